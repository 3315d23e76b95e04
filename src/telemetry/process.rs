//! The process's own series, read from `/proc/self` at each metrics upkeep
//! (Linux; elsewhere nothing is recorded): CPU time, resident memory and
//! open file descriptors.

/// Records the process series once.
pub(crate) fn record() {
    #[cfg(target_os = "linux")]
    linux::record();
}

#[cfg(target_os = "linux")]
mod linux {
    #[allow(clippy::cast_precision_loss)]
    pub(super) fn record() {
        if let Some((cpu_seconds, resident_bytes)) = stat() {
            metrics::gauge!("authd_process_cpu_seconds").set(cpu_seconds);
            metrics::gauge!("authd_process_resident_memory_bytes").set(resident_bytes as f64);
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            metrics::gauge!("authd_process_open_fds").set(fds.count() as f64);
        }
    }

    /// User plus system CPU seconds, and resident bytes, from
    /// `/proc/self/stat` (fields 14, 15 and 24, counted after the command
    /// name, which may hold spaces and parentheses).
    #[allow(clippy::cast_precision_loss)]
    fn stat() -> Option<(f64, u64)> {
        let text = std::fs::read_to_string("/proc/self/stat").ok()?;
        let after_name = &text[text.rfind(')')? + 1..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // `fields[0]` is field 3 (the state).
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        let rss_pages: u64 = fields.get(21)?.parse().ok()?;
        // SAFETY: sysconf only reads a system constant.
        let (ticks, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        let ticks = u64::try_from(ticks).ok().filter(|t| *t > 0)?;
        let page = u64::try_from(page).ok()?;
        Some(((utime + stime) as f64 / ticks as f64, rss_pages * page))
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn this_process_has_cpu_time_memory_and_files() {
            let (cpu, rss) = super::stat().expect("/proc/self/stat");
            assert!(cpu >= 0.0);
            assert!(rss > 1024 * 1024, "{rss}");
            assert!(std::fs::read_dir("/proc/self/fd").unwrap().count() >= 3);
        }
    }
}
