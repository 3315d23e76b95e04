//! Measures ONE Argon2id hash with authd's configured cost on one thread,
//! with one memory buffer reused across hashes (as authd's hasher threads
//! do), and prints the login throughput bound `cores / t_hash`.
//!
//! Cost: AUTH_ARGON2_MEMORY_KIB (19456), AUTH_ARGON2_ITERATIONS (2),
//! AUTH_ARGON2_PARALLELISM (1). BENCH_ARGON2_HASHES (60) hashes are timed
//! after BENCH_ARGON2_WARMUP (5) warm-up ones; the median is reported.
//!
//! Output (one line, machine-readable):
//! `argon2 bound: cores=2 hash_ms=17.9 bound_rps=111.7`
//!
//! `argon2-bound --phc` instead reads a password on stdin and prints its
//! Argon2id PHC string with that cost (bench/scale seeds users with it).

use std::process::ExitCode;
use std::time::Instant;

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

fn env_u32(name: &str, default: u32) -> Result<u32, String> {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse::<u32>()
            .map_err(|e| format!("{name}={v:?}: {e}")),
        Err(_) => Ok(default),
    }
}

/// The configured cost: AUTH_ARGON2_MEMORY_KIB, _ITERATIONS, _PARALLELISM.
fn params() -> Result<Params, String> {
    let m = env_u32("AUTH_ARGON2_MEMORY_KIB", 19_456)?;
    let t = env_u32("AUTH_ARGON2_ITERATIONS", 2)?;
    let p = env_u32("AUTH_ARGON2_PARALLELISM", 1)?;
    Params::new(m, t, p, Some(32)).map_err(|e| format!("argon2 params: {e}"))
}

/// Prints the PHC string of the password read on stdin (one line).
fn phc() -> Result<(), String> {
    let mut password = String::new();
    std::io::stdin()
        .read_line(&mut password)
        .map_err(|e| format!("stdin: {e}"))?;
    let salt = SaltString::encode_b64(b"authd-bench-seed").map_err(|e| format!("salt: {e}"))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params()?);
    let hash = argon
        .hash_password(password.trim_end_matches(['\r', '\n']).as_bytes(), &salt)
        .map_err(|e| format!("argon2: {e}"))?;
    println!("{hash}");
    Ok(())
}

fn run() -> Result<(), String> {
    let params = params()?;
    let (m, t, p) = (params.m_cost(), params.t_cost(), params.p_cost());
    let hashes = env_u32("BENCH_ARGON2_HASHES", 60)?.max(1) as usize;
    let warmup = env_u32("BENCH_ARGON2_WARMUP", 5)? as usize;

    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut memory = vec![Block::default(); params.block_count()];
    let salt = *b"authd-bench-salt";
    let mut out = [0u8; 32];

    let mut times = Vec::with_capacity(hashes);
    for i in 0..warmup + hashes {
        let password = format!("Bench-Passw0rd-{i}");
        let start = Instant::now();
        argon
            .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, &mut memory)
            .map_err(|e| format!("argon2: {e}"))?;
        let elapsed = start.elapsed().as_secs_f64() * 1000.0;
        std::hint::black_box(&out);
        if i >= warmup {
            times.push(elapsed);
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let n = times.len();
    let median = if n % 2 == 1 {
        times[n / 2]
    } else {
        (times[n / 2 - 1] + times[n / 2]) / 2.0
    };
    let cores = std::thread::available_parallelism()
        .map(|c| c.get())
        .unwrap_or(1);
    let bound = cores as f64 * 1000.0 / median;
    println!("argon2 bound: cores={cores} hash_ms={median:.1} bound_rps={bound:.1}");
    eprintln!(
        "argon2id m={m} KiB t={t} p={p}: {n} hashes after {warmup} warm-up, min {:.1} ms, max {:.1} ms",
        times[0],
        times[n - 1]
    );
    Ok(())
}

fn main() -> ExitCode {
    let result = if std::env::args().nth(1).as_deref() == Some("--phc") {
        phc()
    } else {
        run()
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("argon2-bound: {e}");
            ExitCode::FAILURE
        }
    }
}
