//! What a refresh-shaped unit of work costs on SQLite, three ways:
//!
//! - `sqlx-pool`: sqlx's pool of one connection, as authd runs it (no ping
//!   before use; sqlx still pings each connection as it goes back). Each
//!   statement, BEGIN and COMMIT is a hop to the connection's thread.
//! - `sqlx-conn`: one sqlx connection behind a lock, no pool (no release
//!   ping), still one hop per statement.
//! - `one-thread`: the same SQL on one thread that owns a rusqlite
//!   connection and runs the whole unit (BEGIN ... COMMIT) as one closure:
//!   one hop per unit.
//!
//! A unit: BEGIN; claim the client's refresh token (UPDATE ... WHERE unused
//! RETURNING its session); INSERT its successor; touch the session; COMMIT.
//! `select` mode runs one primary-key SELECT per unit instead (the cost of
//! a hop with almost no database work). Prints units/s and CPU µs per unit
//! (the whole process: run it pinned to one core).
//!
//! Usage: hop <sqlx-pool|sqlx-conn|one-thread> <unit|select> <db file> [secs] [tasks]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, Row};
use tokio::sync::{Mutex, oneshot};

const SESSIONS: u64 = 10_000;

type Job = Box<dyn FnOnce(&mut rusqlite::Connection) + Send>;

#[derive(Clone)]
enum Store {
    Pool(sqlx::SqlitePool),
    Conn(Arc<Mutex<sqlx::SqliteConnection>>),
    Thread(std::sync::mpsc::Sender<Job>),
}

fn options(path: &str) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10))
}

fn token(session: u64, generation: u64) -> Vec<u8> {
    let mut t = session.to_be_bytes().to_vec();
    t.extend_from_slice(&generation.to_be_bytes());
    t.extend_from_slice(&[7u8; 16]);
    t
}

fn seed(path: &str) {
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(format!("{path}-wal"));
    let _ = std::fs::remove_file(format!("{path}-shm"));
    let mut db = rusqlite::Connection::open(path).unwrap();
    db.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
         CREATE TABLE sessions (id BLOB PRIMARY KEY, last_used_at INTEGER NOT NULL);
         CREATE TABLE refresh_tokens (token_hash BLOB PRIMARY KEY, session_id BLOB NOT NULL,
             used_at INTEGER, expires_at INTEGER NOT NULL);
         CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);",
    )
    .unwrap();
    let tx = db.transaction().unwrap();
    for s in 0..SESSIONS {
        let id = s.to_be_bytes().to_vec();
        tx.execute("INSERT INTO sessions VALUES (?1, 0)", (&id,))
            .unwrap();
        tx.execute(
            "INSERT INTO refresh_tokens VALUES (?1, ?2, NULL, 9)",
            (token(s, 0), &id),
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

const CLAIM: &str = "UPDATE refresh_tokens SET used_at = ?1 WHERE token_hash = ?2 AND used_at IS NULL RETURNING session_id";
const INSERT: &str = "INSERT INTO refresh_tokens VALUES (?1, ?2, NULL, ?3)";
const TOUCH: &str = "UPDATE sessions SET last_used_at = ?1 WHERE id = ?2";
const SELECT: &str = "SELECT last_used_at FROM sessions WHERE id = ?1";

/// One unit for `session` at `generation`; true when the claim won.
async fn unit(store: &Store, select: bool, session: u64, generation: u64, now: i64) -> bool {
    let id = session.to_be_bytes().to_vec();
    let old = token(session, generation);
    let new = token(session, generation + 1);
    match store {
        Store::Pool(pool) if select => sqlx::query(SELECT)
            .bind(id)
            .fetch_optional(pool)
            .await
            .unwrap()
            .is_some(),
        Store::Pool(pool) => {
            let mut tx = pool.begin().await.unwrap();
            let won = sqlx_unit(&mut tx, id, old, new, now).await;
            tx.commit().await.unwrap();
            won
        }
        Store::Conn(conn) => {
            let mut conn = conn.lock().await;
            if select {
                return sqlx::query(SELECT)
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await
                    .unwrap()
                    .is_some();
            }
            let mut tx = conn.begin().await.unwrap();
            let won = sqlx_unit(&mut tx, id, old, new, now).await;
            tx.commit().await.unwrap();
            won
        }
        Store::Thread(tx) => {
            let (reply, answer) = oneshot::channel();
            let job: Job = Box::new(move |db| {
                let won = if select {
                    let mut s = db.prepare_cached(SELECT).unwrap();
                    s.exists((&id,)).unwrap()
                } else {
                    let t = db.transaction().unwrap();
                    let won = {
                        let mut claim = t.prepare_cached(CLAIM).unwrap();
                        let mut rows = claim.query((now, &old)).unwrap();
                        rows.next().unwrap().is_some()
                    };
                    if won {
                        t.prepare_cached(INSERT)
                            .unwrap()
                            .execute((&new, &id, now + 1000))
                            .unwrap();
                        t.prepare_cached(TOUCH).unwrap().execute((now, &id)).unwrap();
                    }
                    t.commit().unwrap();
                    won
                };
                let _ = reply.send(won);
            });
            tx.send(job).unwrap();
            answer.await.unwrap()
        }
    }
}

async fn sqlx_unit(
    tx: &mut sqlx::SqliteConnection,
    id: Vec<u8>,
    old: Vec<u8>,
    new: Vec<u8>,
    now: i64,
) -> bool {
    let claimed = sqlx::query(CLAIM)
        .bind(now)
        .bind(old)
        .fetch_optional(&mut *tx)
        .await
        .unwrap();
    let Some(row) = claimed else { return false };
    let _: Vec<u8> = row.get(0);
    sqlx::query(INSERT)
        .bind(new)
        .bind(&id)
        .bind(now + 1000)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(TOUCH)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();
    true
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (kind, mode, path) = (args[1].clone(), args[2].clone(), args[3].clone());
    let secs: u64 = args.get(4).map_or(5, |s| s.parse().unwrap());
    let tasks: u64 = args.get(5).map_or(8, |s| s.parse().unwrap());
    let select = mode == "select";
    seed(&path);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let store = match kind.as_str() {
            "sqlx-pool" => Store::Pool(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .test_before_acquire(false)
                    .connect_with(options(&path))
                    .await
                    .unwrap(),
            ),
            "sqlx-conn" => Store::Conn(Arc::new(Mutex::new(
                sqlx::SqliteConnection::connect_with(&options(&path))
                    .await
                    .unwrap(),
            ))),
            "one-thread" => {
                let (tx, rx) = std::sync::mpsc::channel::<Job>();
                let path = path.clone();
                std::thread::spawn(move || {
                    let mut db = rusqlite::Connection::open(&path).unwrap();
                    db.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;")
                        .unwrap();
                    while let Ok(job) = rx.recv() {
                        job(&mut db);
                    }
                });
                Store::Thread(tx)
            }
            other => panic!("unknown store {other}"),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        // Warm up, then measure.
        for s in 0..tasks {
            assert!(unit(&store, select, s, 0, 1).await);
        }
        let (cpu0, t0) = (cpu_seconds(), Instant::now());
        let mut handles = Vec::new();
        for t in 0..tasks {
            let (store, stop, done) = (store.clone(), stop.clone(), done.clone());
            handles.push(tokio::spawn(async move {
                // Each task owns the sessions t, t + tasks, ... and their
                // current generation, as a client keeps its newest token.
                // The first was used once in the warm-up.
                let mut generation = vec![0u64; (SESSIONS / tasks) as usize];
                generation[0] = u64::from(!select);
                let mut i = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let session = t + tasks * i as u64;
                    assert!(unit(&store, select, session, generation[i], 2).await);
                    if !select {
                        generation[i] += 1;
                    }
                    i = (i + 1) % generation.len();
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(secs)).await;
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            h.await.unwrap();
        }
        let (cpu, wall) = (cpu_seconds() - cpu0, t0.elapsed().as_secs_f64());
        let n = done.load(Ordering::Relaxed) as f64;
        println!(
            "{kind:10} {mode:6} {:8.0} units/s  {:6.1} µs CPU/unit  ({n} units, {wall:.1} s)",
            n / wall,
            cpu / n * 1e6
        );
    });
}
