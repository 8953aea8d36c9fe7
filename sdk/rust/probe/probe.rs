//! probe is the Rust SDK's test plugin. It answers every verdict the ABI has, chosen by the
//! path, so that one Go table (sdk/conformance) checks the C, Rust and AssemblyScript SDKs
//! alike:
//!
//! - `/probe/next`, `/probe/real`, `/probe/fail`: those verdicts
//! - `/probe/deny/N`: deny with errno N
//! - `/probe/greeting`: the configured greeting ("hello" by default)
//! - `/probe/request`: every request field, served with mode 0640
//! - `/probe/upper/...`: the real file in upper case, or its read errno
//! - `/probe/big`: 1 MiB + 1 byte, which scrim must refuse
//! - `/probe/config`: the whole configuration as JSON
//! - `/probe/log`: "logged", after a warning "probe log: PATH"
//! - `/probe/echo/...`: the path's bytes as they came (not always UTF-8)
//! - `/probe/meta`: "hello meta\n", mode 0640, mtime 1700000000 s 5 ns; a look-up of it gets
//!   the size alone
//! - `/probe/metadir`: a directory, mode 0555, mtime 1700000000 s 5 ns
//! - anything else: ENOENT
//!
//! A configuration key "refuse" makes init refuse with "refused: VALUE". A key "claims", paths
//! separated by spaces, replaces the claim `/probe/**` (ABI 1.1: claims from the
//! configuration).

use scrim::{Config, Errno, Level, Op, Plugin, Request, Verdict};

const META_TEXT: &str = "hello meta\n";

fn claims_from(config: &Config) -> Result<Vec<String>, String> {
    Ok(match config.get("claims") {
        Some(list) => list.split(' ').filter(|c| !c.is_empty()).map(String::from).collect(),
        None => vec![String::from("/probe/**")],
    })
}

struct Probe {
    greeting: String,
    config: String,
}

impl Plugin for Probe {
    fn init(&mut self, config: &Config) -> Result<(), String> {
        if let Some(why) = config.get("refuse") {
            return Err(format!("refused: {}", why));
        }
        self.config = config.json();
        if let Some(g) = config.get("greeting") {
            self.greeting = g;
        }
        Ok(())
    }

    fn open(&mut self, req: &Request) -> Verdict {
        if req.path.starts_with(b"/probe/echo/") {
            return Verdict::serve(req.path);
        }
        let path = req.path_str().unwrap_or("");
        match path {
            "/probe/next" => Verdict::Next,
            "/probe/real" => Verdict::Real,
            "/probe/fail" => Verdict::Fail("probe fails on purpose".into()),
            "/probe/greeting" => Verdict::serve(format!("{}\n", self.greeting)),
            "/probe/request" => Verdict::serve(format!(
                "path={}\nsandbox={}\nsyscall={}\nflags={}\nmode={}\nobject_mode={}\npid={}\ntid={}\nuid={}\ngid={}\nop={}\n",
                path,
                req.sandbox,
                req.syscall.number(),
                req.flags,
                req.mode,
                req.object_mode,
                req.pid,
                req.tid,
                req.uid,
                req.gid,
                match req.op {
                    Op::Open => 0,
                    Op::Stat => 1,
                    Op::Access => 2,
                    Op::Other(n) => n,
                }
            ))
            .with_mode(0o640),
            "/probe/config" => Verdict::serve(self.config.clone()),
            "/probe/meta" if req.is_lookup() => {
                Verdict::serve_size(META_TEXT.len() as u64).with_mode(0o640).with_mtime(1700000000, 5)
            }
            "/probe/meta" => Verdict::serve(META_TEXT).with_mode(0o640).with_mtime(1700000000, 5),
            "/probe/metadir" => Verdict::serve_dir().with_mtime(1700000000, 5),
            "/probe/log" => {
                scrim::log(Level::Warn, &format!("probe log: {}", path));
                Verdict::serve("logged\n")
            }
            "/probe/big" => Verdict::serve(vec![b'x'; (1 << 20) + 1]),
            _ => {
                if let Some(n) = path.strip_prefix("/probe/deny/") {
                    return Verdict::Deny(Errno(n.parse().unwrap_or(0)));
                }
                if path.starts_with("/probe/upper/") {
                    return match &req.real {
                        None => Verdict::ReadReal,
                        Some(real) => match real.errno {
                            Some(e) => Verdict::Deny(e),
                            None => Verdict::serve(real.data.to_ascii_uppercase()),
                        },
                    };
                }
                Verdict::Deny(Errno::ENOENT)
            }
        }
    }
}

scrim::plugin! {
    name: "probe-rust",
    version: "1.0.0",
    claims: [],
    claims_from: claims_from,
    plugin: Probe { greeting: String::from("hello"), config: String::new() },
}
