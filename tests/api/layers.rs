//! The shape of the code, checked: no module of any crate imports a module
//! that imports it back (no cycle, however long), and inside the domain
//! crate a module imports only modules of its own layer or below. A new
//! module of the domain crate must be given a layer here.
//!
//! The graph is read from the source: every `crate::a::b` and `super::a`
//! path (in `use` lines and in expressions) is an edge to the longest
//! module prefix it names; comments and `#[cfg(test)] mod tests` blocks are
//! not read (a test may reach anything).
//!
//! Two more rules are read from the source: every table write of the
//! domain crate is in `store/`, and the HTTP layer names no store module
//! (it sees the domain's views, never a row).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The domain crate's layers, lowest first. Each module belongs to the
/// layer of the longest prefix listed; it may import its own layer and
/// those before it.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "domain: types parsed at the boundary, pure rules, the error enum",
        &[
            "domain",
            "lockout",
            "context",
            "error",
            // Classifies a database error (no I/O): what `error` maps to 503.
            "store::reachability",
        ],
    ),
    (
        "infra: hashing pool, tokens, keys, rate limits, broadcast, breached-password client, test hooks",
        &[
            "keyed",
            "fingerprint",
            "one_time",
            "hooks",
            "broadcast",
            "hasher",
            "jwt",
            "rate_limit",
            "breached",
        ],
    ),
    ("store: one module per table, every write to it", &["store"]),
    (
        "views: what a caller is shown of a row (no secrets)",
        &["views"],
    ),
    (
        "outcomes: what an attempt comes to, tokens, revocations, the caller",
        &["attempts"],
    ),
    (
        "effects: what a unit of work writes besides the change (events, mails, alerts, the credential change, sessions, code and passkey checks)",
        &[
            "audit",
            "notices",
            "webhooks",
            "revocation",
            "work",
            "alerts",
            "credentials",
            "sessions",
            "mfa::challenges",
            "mfa::codes",
            "mfa::backup",
            "mfa::totp",
            "mfa::deps",
            "passkeys::assertion",
            "passkeys::ceremony",
            "passkeys::second_factor",
        ],
    ),
    (
        "gate: the per-user actor, its supervisors, the token registry",
        &[
            "attempt_gate",
            "gate_supervisor",
            "token_registry",
            "supervisor",
        ],
    ),
    (
        "services: what a handler asks for",
        &[
            "auth",
            "accounts",
            "passwords",
            "profile",
            "mfa",
            "passkeys",
            "janitor",
            "account_data",
            "email_change",
            "admin",
            // Sign-in with other providers: flows, identities, the exchange
            // through the gate.
            "oidc",
        ],
    ),
];

/// Modules of a crate (by path, `a::b`; the root is "") and their files.
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            // A whole file of tests may reach anything.
            if parts.last().map(String::as_str) == Some("tests") {
                continue;
            }
            out.insert(parts.join("::"), path);
        }
    }
    out
}

/// The source without comments and without a trailing test module.
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => &text[..],
    };
    without_comments(text)
}

/// `text` without `//` comments (a `//` after a quote is kept: it may be
/// in a string), line for line.
fn without_comments(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident_at(text: &str, from: usize) -> &str {
    let rest = &text[from..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    &rest[..end]
}

/// Every path after `prefix` (`crate::` or `super::`): `a::b::c` gives
/// "a::b::c"; a group `a::{b, c::{d, e}}` gives "a::b", "a::c::d", "a::c::e".
fn paths_after(text: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut search = 0;
    while let Some(found) = text[search..].find(prefix) {
        let start = search + found;
        search = start + prefix.len();
        let before = text[..start].chars().last();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        search = use_tree(text, search, "", &mut out);
    }
    out
}

/// Reads one use tree at `at` under `base` into `out`; returns where it ends.
fn use_tree(text: &str, mut at: usize, base: &str, out: &mut Vec<String>) -> usize {
    let skip_space = |at: usize| at + (text[at..].len() - text[at..].trim_start().len());
    let mut path = base.to_owned();
    loop {
        at = skip_space(at);
        let ident = ident_at(text, at);
        if ident.is_empty() {
            break;
        }
        if ident != "self" {
            if !path.is_empty() {
                path.push_str("::");
            }
            path.push_str(ident);
        }
        at += ident.len();
        if text[at..].starts_with("::") {
            at += 2;
        } else {
            break;
        }
    }
    if text[at..].starts_with('{') {
        at += 1;
        loop {
            at = use_tree(text, at, &path, out);
            at = skip_space(at);
            // `x as y`: the alias names nothing new.
            if text[at..].starts_with("as ") {
                at = skip_space(at + 3);
                at += ident_at(text, at).len();
                at = skip_space(at);
            }
            match text[at..].chars().next() {
                Some(',') => at += 1,
                Some('}') => return at + 1,
                _ => return at,
            }
        }
    }
    if !path.is_empty() {
        out.push(path);
    }
    at
}

/// The longest module that `path` names.
fn resolve<'a>(mods: &'a BTreeMap<String, PathBuf>, path: &str) -> Option<&'a str> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find_map(|m| mods.get_key_value(&m).map(|(k, _)| k.as_str()))
}

type Graph = BTreeMap<String, BTreeSet<String>>;

fn graph(src: &Path) -> Graph {
    let mods = modules(src);
    let mut edges = Graph::new();
    for (module, file) in &mods {
        let code = code_of(file);
        let parent = module.rsplit_once("::").map_or("", |(p, _)| p);
        let mut targets: Vec<String> = paths_after(&code, "crate::");
        targets.extend(paths_after(&code, "super::").into_iter().map(|p| {
            if parent.is_empty() {
                p
            } else {
                format!("{parent}::{p}")
            }
        }));
        let set = edges.entry(module.clone()).or_default();
        for target in targets {
            if let Some(to) = resolve(&mods, &target)
                && to != module
                && !to.is_empty()
                && !module.starts_with(&format!("{to}::"))
            {
                set.insert(to.to_owned());
            }
        }
    }
    edges
}

/// The strongly connected components of more than one module.
fn cycles(edges: &Graph) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        edges: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.edges.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut t = Tarjan {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.found
}

fn crate_src(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    match name {
        "authd" => root.join("src"),
        other => root.join(other).join("src"),
    }
}

#[test]
fn no_crate_has_a_module_cycle() {
    for name in ["authd", "actors", "jobs", "openapi", "migrations"] {
        let edges = graph(&crate_src(name));
        assert!(edges.len() > 3, "{name}: too few modules read");
        let found = cycles(&edges);
        assert!(found.is_empty(), "{name}: import cycles {found:#?}");
    }
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .enumerate()
        .flat_map(|(n, (_, mods))| mods.iter().map(move |m| (n, *m)))
        .filter(|(_, m)| module == *m || module.starts_with(&format!("{m}::")))
        .max_by_key(|(_, m)| m.len())
        .map(|(n, _)| n)
}

#[test]
fn the_domain_crate_imports_only_downward() {
    let edges = graph(&crate_src("actors"));
    let mut wrong = Vec::new();
    for (from, targets) in &edges {
        if from.is_empty() {
            continue;
        }
        let Some(lf) = layer_of(from) else {
            wrong.push(format!("{from} has no layer: add it to LAYERS"));
            continue;
        };
        for to in targets {
            let lt = layer_of(to).unwrap_or(usize::MAX);
            if lt > lf {
                wrong.push(format!(
                    "{from} ({}) imports {to} ({})",
                    LAYERS[lf].0.split(':').next().unwrap_or(""),
                    LAYERS
                        .get(lt)
                        .map_or("no layer", |l| l.0.split(':').next().unwrap_or(""))
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn the_import_reader_sees_groups_and_nesting() {
    let code = "use crate::{a, b::{c, d as e}, self};\nlet x = crate::e::f(1);\nuse super::g;";
    let paths = paths_after(code, "crate::");
    assert_eq!(paths, vec!["a", "b::c", "b::d", "e::f"], "{paths:?}");
    assert_eq!(paths_after(code, "super::"), vec!["g".to_owned()]);
    // And a cycle is a cycle.
    let mut edges = Graph::new();
    edges.entry("a".into()).or_default().insert("b".into());
    edges.entry("b".into()).or_default().insert("c".into());
    edges.entry("c".into()).or_default().insert("a".into());
    assert_eq!(cycles(&edges), vec![vec!["a", "b", "c"]]);
}

/// What writes a table: sea-orm's write builders and statements, raw SQL.
const WRITES: &[&str] = &[
    "Entity::insert",
    "Entity::update",
    "Entity::delete",
    "insert_many",
    "update_many",
    "delete_many",
    "exec_without_returning",
    "exec_with_returning",
    "Statement::from_sql",
    "execute_raw",
    "execute_unprepared",
    "ActiveModelTrait",
    "UPDATE ",
    "INSERT INTO",
    "DELETE FROM",
];

/// `text` with every `#[cfg(test)]` item (a module, a function, a `use`)
/// blanked out, its line breaks kept so that line numbers still match.
fn without_test_items(text: &str) -> String {
    const MARK: &str = "#[cfg(test)]";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(MARK) {
        out.push_str(&rest[..at]);
        let item = &rest[at..];
        // The item ends at its first `;` if that comes before any `{`, else
        // at the brace closing its first `{`.
        let mut depth = 0usize;
        let mut end = item.len();
        for (i, c) in item.char_indices().skip(MARK.len()) {
            match c {
                ';' if depth == 0 => {
                    end = i + 1;
                    break;
                }
                '{' => depth += 1,
                '}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.extend(item[..end].chars().filter(|&c| c == '\n'));
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().and_then(|e| e.to_str()) == Some("rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The lines of `text` that write (outside comments and test items), as
/// `line: what`.
fn writes_in(text: &str) -> Vec<String> {
    let code = without_comments(&without_test_items(text));
    let mut found = Vec::new();
    for (n, line) in code.lines().enumerate() {
        let what: Vec<&str> = WRITES
            .iter()
            .filter(|w| line.contains(*w))
            .map(|w| w.trim())
            .collect();
        if !what.is_empty() {
            found.push(format!("{}: {}", n + 1, what.join(", ")));
        }
    }
    found
}

/// Every write to a table of the domain crate is in that table's module
/// of `store/` (named for what it means), so a reader finds all the
/// writes to a table in one file. Tests may write anything.
#[test]
fn no_table_is_written_outside_its_store_module() {
    let src = crate_src("actors");
    let store = src.join("store");
    let mut outside = Vec::new();
    let files = rust_files(&src);
    assert!(files.len() > 20, "too few files read");
    for file in files {
        if file.starts_with(&store) || file.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let rel = file.strip_prefix(&src).unwrap().display().to_string();
        outside.extend(writes_in(&text).into_iter().map(|w| format!("{rel}:{w}")));
    }
    assert!(
        outside.is_empty(),
        "writes outside actors/src/store/:\n{}",
        outside.join("\n")
    );
}

#[test]
fn the_write_reader_skips_tests_and_comments() {
    let code = "fn a() { x.update_many() }\n// Entity::insert\n#[cfg(test)]\nmod tests {\n    fn b() { Entity::delete_many() }\n}\n#[cfg(test)]\nuse y::update_many;\nconst S: &str = \"INSERT INTO t\";\n";
    assert_eq!(
        writes_in(code),
        vec!["1: update_many".to_owned(), "9: INSERT INTO".to_owned()]
    );
}

/// The places in `text` (comments left out) that name a store module: a
/// path `actors::store…` (grouped imports included) or any `store::`.
fn store_paths_in(text: &str) -> Vec<String> {
    let code = without_comments(text);
    let mut found: Vec<String> = paths_after(&code, "actors::")
        .into_iter()
        .filter(|p| p == "store" || p.starts_with("store::"))
        .map(|p| format!("actors::{p}"))
        .collect();
    let mut search = 0;
    while let Some(at) = code[search..].find("store::") {
        let start = search + at;
        search = start + "store::".len();
        let before = code[..start].chars().last();
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            let line = code[..start].matches('\n').count() + 1;
            found.push(format!("line {line}: store::"));
        }
    }
    found
}

/// The HTTP layer sees the domain's views (`actors::views`) and outcomes,
/// never a store module or its rows, so a column added to a table (a hash,
/// a secret) cannot reach an answer unseen. Its tests are held to it too.
#[test]
fn the_http_layer_names_no_store_module() {
    let src = crate_src("openapi");
    let files = rust_files(&src);
    assert!(files.len() > 20, "too few files read");
    let mut named = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let rel = file.strip_prefix(&src).unwrap().display().to_string();
        named.extend(
            store_paths_in(&text)
                .into_iter()
                .map(|p| format!("{rel}: {p}")),
        );
    }
    assert!(
        named.is_empty(),
        "openapi/src names the store:\n{}",
        named.join("\n")
    );
}

#[test]
fn the_store_reader_sees_groups_and_skips_comments() {
    let code = "use actors::{views::Session, store::{users, passkeys}};\n// actors::store::sessions\nfn f(m: store::users::Model) {}\nconst S: &str = \"no-store\";\n";
    assert_eq!(
        store_paths_in(code),
        vec![
            "actors::store::users".to_owned(),
            "actors::store::passkeys".to_owned(),
            "line 1: store::".to_owned(),
            "line 3: store::".to_owned(),
        ]
    );
}
