//! Argon2id on a bounded pool of dedicated threads, one per core, each with
//! its own reused memory buffer. Hashing never runs on the async reactor, and
//! no more hashes run at once than there are cores.

use std::thread;
use std::time::Duration;

use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use subtle::ConstantTimeEq;
use tokio::sync::oneshot;
use zeroize::Zeroizing;

use crate::DomainError;

const OUTPUT_LEN: usize = 32;
const SALT_LEN: usize = 16;
/// Hashes waiting beyond this are refused with 503 instead of queueing forever.
const QUEUE_CAPACITY: usize = 1024;
/// A hash not done within this (queued and computed) is refused with 503
/// (`Busy`), and its thread skips it if it has not started it: when a flood
/// of other requests slows the hashing threads (see [`lower_priority`]),
/// a login answers "busy" in seconds instead of waiting out the actor
/// call's timeout and answering 500.
const WAIT_LIMIT: Duration = Duration::from_secs(10);

/// Argon2id cost, as configured (`AUTH_ARGON2_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashCost {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl HashCost {
    pub fn params(&self) -> Result<Params, String> {
        Params::new(
            self.memory_kib,
            self.iterations,
            self.parallelism,
            Some(OUTPUT_LEN),
        )
        .map_err(|e| e.to_string())
    }
}

enum Job {
    Hash {
        password: Zeroizing<String>,
        reply: oneshot::Sender<String>,
    },
    Verify {
        password: Zeroizing<String>,
        phc: String,
        reply: oneshot::Sender<bool>,
    },
}

impl Job {
    /// Whether its caller stopped waiting (the wait limit, or a request
    /// dropped): no one would read the answer.
    fn abandoned(&self) -> bool {
        match self {
            Job::Hash { reply, .. } => reply.is_closed(),
            Job::Verify { reply, .. } => reply.is_closed(),
        }
    }
}

#[derive(Clone)]
pub struct Hasher {
    tx: Sender<Job>,
    params: Params,
    wait_limit: Duration,
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hasher")
    }
}

impl Hasher {
    /// Starts `threads` hashing threads (use the number of cores), and
    /// returns once each is running at its share ([`HASHING_NICENESS`])
    /// with its memory allocated.
    pub fn start(cost: HashCost, threads: usize) -> Result<Self, String> {
        let params = cost.params()?;
        let (tx, rx) = crossbeam_channel::bounded(QUEUE_CAPACITY);
        let threads = threads.max(1);
        let (ready, started) = std::sync::mpsc::channel();
        for i in 0..threads {
            let rx: Receiver<Job> = rx.clone();
            let params = params.clone();
            let ready = ready.clone();
            thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || work(&rx, &params, &ready))
                .map_err(|e| e.to_string())?;
        }
        drop(ready);
        for _ in 0..threads {
            started
                .recv()
                .map_err(|_| "a hashing thread stopped at start".to_owned())?;
        }
        Ok(Self {
            tx,
            params,
            wait_limit: WAIT_LIMIT,
        })
    }

    /// The same pool with another [`WAIT_LIMIT`].
    #[cfg(test)]
    #[must_use]
    fn with_wait_limit(mut self, limit: Duration) -> Self {
        self.wait_limit = limit;
        self
    }

    /// Whether a stored PHC string was made with today's algorithm and
    /// cost. One that was not is hashed again at the next right password,
    /// so raising the cost upgrades users as they log in, and a wrong
    /// password costs the same for every account as for none.
    pub(crate) fn is_current(&self, phc: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return false;
        };
        parsed.algorithm.as_str() == "argon2id"
            && parsed.version == Some(19)
            && Params::try_from(&parsed).is_ok_and(|p| {
                (p.m_cost(), p.t_cost(), p.p_cost())
                    == (
                        self.params.m_cost(),
                        self.params.t_cost(),
                        self.params.p_cost(),
                    )
            })
    }

    /// Hashes a new password into a PHC string.
    pub async fn hash(&self, password: &str) -> Result<String, DomainError> {
        let (reply, rx) = oneshot::channel();
        self.submit(Job::Hash {
            password: Zeroizing::new(password.to_owned()),
            reply,
        })?;
        self.answer(rx).await
    }

    /// Checks a password against a stored PHC string. A malformed stored
    /// hash never matches.
    pub async fn verify(&self, password: &str, phc: &str) -> Result<bool, DomainError> {
        let (reply, rx) = oneshot::channel();
        self.submit(Job::Verify {
            password: Zeroizing::new(password.to_owned()),
            phc: phc.to_owned(),
            reply,
        })?;
        self.answer(rx).await
    }

    /// The job's answer, or `Busy` after the wait limit.
    async fn answer<T>(&self, rx: oneshot::Receiver<T>) -> Result<T, DomainError> {
        match tokio::time::timeout(self.wait_limit, rx).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(DomainError::Internal("hasher stopped".into())),
            Err(_) => {
                metrics::counter!("authd_argon2_abandoned_total").increment(1);
                Err(DomainError::Busy)
            }
        }
    }

    fn submit(&self, job: Job) -> Result<(), DomainError> {
        let sent = self.tx.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => DomainError::Busy,
            TrySendError::Disconnected(_) => DomainError::Internal("hasher stopped".into()),
        });
        report_depth(self.tx.len());
        sent
    }
}

/// Hashing threads get a bounded, fair share of a contended core: they run
/// at niceness [`HASHING_NICENESS`], a scheduler weight of 526 against the
/// reactor's 1,024. When requests of another kind keep the reactor busy
/// (a flood of verify-token, which is unauthenticated and not rate
/// limited), hashing still gets about a third of each core, so logins go
/// on at about a third of their solo rate instead of starving into 503s;
/// when only logins run, hashing takes every cycle the reactor leaves.
///
/// The idle class (`SCHED_IDLE`, weight 3) used before gave the reactor
/// every cycle and let a verify-token flood starve logins to 0-5 % of
/// their rate: a denial of service. The share is a trade: what hashing
/// gets under both floods at once, the reactor does not (see BENCHMARKS.md,
/// "both floods at once").
const HASHING_NICENESS: libc::c_int = 3;

fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // On Linux, PRIO_PROCESS with id 0 applies to the calling thread only.
        // SAFETY: setpriority only reads its integer arguments.
        let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, HASHING_NICENESS) };
        if rc != 0 {
            tracing::debug!("could not lower the hashing thread's priority");
        }
    }
}

/// The `authd_argon2_queue_depth` gauge: hashes waiting for a thread.
fn report_depth(waiting: usize) {
    #[allow(clippy::cast_precision_loss)]
    metrics::gauge!("authd_argon2_queue_depth").set(waiting as f64);
}

fn work(rx: &Receiver<Job>, params: &Params, ready: &std::sync::mpsc::Sender<()>) {
    lower_priority();
    let mut memory = vec![Block::default(); params.block_count()];
    let _ = ready.send(());
    while let Ok(job) = rx.recv() {
        report_depth(rx.len());
        if job.abandoned() {
            continue;
        }
        match job {
            Job::Hash { password, reply } => {
                let salt: [u8; SALT_LEN] = rand::random();
                if let Some(phc) = hash_with(&password, &salt, params, &mut memory) {
                    let _ = reply.send(phc);
                }
            }
            Job::Verify {
                password,
                phc,
                reply,
            } => {
                let _ = reply.send(verify_with(&password, &phc, params, &mut memory));
            }
        }
    }
}

fn compute(
    password: &str,
    salt: &[u8],
    params: &Params,
    memory: &mut Vec<Block>,
    out: &mut [u8],
) -> bool {
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::default());
    }
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(
            password.as_bytes(),
            salt,
            out,
            &mut memory[..params.block_count()],
        )
        .is_ok()
}

fn hash_with(
    password: &str,
    salt: &[u8],
    params: &Params,
    memory: &mut Vec<Block>,
) -> Option<String> {
    let mut out = [0u8; OUTPUT_LEN];
    if !compute(password, salt, params, memory, &mut out) {
        return None;
    }
    Some(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(out)
    ))
}

fn verify_with(password: &str, phc: &str, configured: &Params, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm.as_str() != "argon2id" {
        return false;
    }
    let params = Params::try_from(&parsed).unwrap_or_else(|_| configured.clone());
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let expected = expected.as_bytes();
    let mut out = vec![0u8; expected.len()];
    let Ok(params) = Params::new(
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        Some(expected.len()),
    ) else {
        return false;
    };
    compute(password, salt, &params, memory, &mut out) && bool::from(out.ct_eq(expected))
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordVerifier;

    fn cheap() -> HashCost {
        HashCost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[tokio::test]
    async fn a_hash_is_current_only_at_the_configured_cost() {
        let hasher = Hasher::start(cheap(), 1).unwrap();
        let phc = hasher.hash("Correct-Horse-1").await.unwrap();
        assert!(hasher.is_current(&phc));
        let dearer = Hasher::start(
            HashCost {
                memory_kib: 128,
                ..cheap()
            },
            1,
        )
        .unwrap();
        assert!(!dearer.is_current(&phc));
        assert!(dearer.verify("Correct-Horse-1", &phc).await.unwrap());
        assert!(!hasher.is_current("$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA"));
        assert!(!hasher.is_current("not a hash"));
    }

    #[tokio::test]
    async fn a_hash_not_done_within_the_wait_limit_is_busy_and_the_pool_goes_on() {
        // 64 MiB, 4 passes: far longer than 20 ms on any machine.
        let dear = HashCost {
            memory_kib: 65_536,
            iterations: 4,
            parallelism: 1,
        };
        let hasher = Hasher::start(dear, 1).unwrap();
        let phc = hasher.hash("Correct-Horse-1").await.unwrap();
        let impatient = hasher.clone().with_wait_limit(Duration::from_millis(20));
        let started = std::time::Instant::now();
        let (first, second) = tokio::join!(
            impatient.verify("Correct-Horse-1", &phc),
            impatient.verify("Correct-Horse-1", &phc),
        );
        assert!(matches!(first, Err(DomainError::Busy)), "{first:?}");
        assert!(matches!(second, Err(DomainError::Busy)), "{second:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
        // The abandoned jobs do not wedge the pool.
        assert!(hasher.verify("Correct-Horse-1", &phc).await.unwrap());
    }

    #[tokio::test]
    async fn a_hash_verifies_with_its_password_only() {
        let hasher = Hasher::start(cheap(), 2).unwrap();
        let phc = hasher.hash("Correct-Horse-1").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(hasher.verify("Correct-Horse-1", &phc).await.unwrap());
        assert!(!hasher.verify("Correct-Horse-2", &phc).await.unwrap());
        assert!(
            !hasher
                .verify("Correct-Horse-1", "not a hash")
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn hashes_are_standard_phc_strings() {
        let hasher = Hasher::start(cheap(), 1).unwrap();
        let phc = hasher.hash("Correct-Horse-1").await.unwrap();
        let parsed = PasswordHash::new(&phc).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"Correct-Horse-1", &parsed)
                .is_ok()
        );
    }

    #[tokio::test]
    async fn hashes_made_elsewhere_verify() {
        use argon2::PasswordHasher;
        use argon2::password_hash::SaltString;
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let params = Params::new(128, 2, 1, None).unwrap();
        let phc = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"Other-Params-9", &salt)
            .unwrap()
            .to_string();
        let hasher = Hasher::start(cheap(), 1).unwrap();
        assert!(hasher.verify("Other-Params-9", &phc).await.unwrap());
    }

    /// The hashing threads' share of a contended core: the normal policy
    /// at niceness 3, never the idle class (which let a verify-token flood
    /// starve logins). Read from /proc: field 19 of a thread's `stat` is
    /// its niceness, field 41 its policy (0 normal, 5 idle).
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_at_niceness_3_in_the_normal_policy() {
        let _hasher = Hasher::start(cheap(), 2).unwrap();
        let mut seen = 0;
        for task in std::fs::read_dir("/proc/self/task").unwrap() {
            let dir = task.unwrap().path();
            let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            if !comm.starts_with("argon2-") {
                continue;
            }
            let stat = std::fs::read_to_string(dir.join("stat")).unwrap();
            // Fields after the command name, which ends with the last ')'.
            let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
            let (nice, policy) = (fields[16], fields[38]);
            assert_eq!((nice, policy), ("3", "0"), "{}: {stat}", comm.trim());
            seen += 1;
        }
        assert!(seen >= 2, "{seen} hashing threads found, not 2");
    }

    #[tokio::test]
    async fn the_same_password_gets_a_new_salt_each_time() {
        let hasher = Hasher::start(cheap(), 1).unwrap();
        assert_ne!(
            hasher.hash("Same-Pass-1").await.unwrap(),
            hasher.hash("Same-Pass-1").await.unwrap()
        );
    }
}
