//! users is a scrim plugin, written in Rust, that shows the sandboxed program a reduced
//! account database: /etc/passwd and /etc/group keep only the allowed users, the caller's own
//! user and group, and, in /etc/group, member lists cut down to the allowed users.
//!
//! Configuration:
//!
//! ```toml
//! [plugin.config]
//! allow = ["root", "nobody", "builder"]   # default: ["root", "nobody"]
//! keep_caller = false                     # default true: keep the caller's own uid and gid
//! ```
//!
//! The plugin asks scrim for the real file (read as the program would, with its credentials)
//! and serves the filtered copy. When the program could not read the file, it gets the same
//! errno.

use scrim::{Config, Plugin, Request, Verdict};

struct Users {
    allow: Vec<String>,
    keep_caller: bool,
}

impl Users {
    fn allowed(&self, name: &[u8]) -> bool {
        self.allow.iter().any(|a| a.as_bytes() == name)
    }

    /// Keeps the passwd lines of allowed users and of the caller's uid.
    fn passwd(&self, data: &[u8], uid: u32) -> Vec<u8> {
        let mut out = Vec::new();
        for line in lines(data) {
            let f: Vec<&[u8]> = line.split(|&b| b == b':').collect();
            if f.len() < 7 {
                continue;
            }
            if self.allowed(f[0]) || (self.keep_caller && number(f[2]) == Some(uid)) {
                out.extend_from_slice(line);
                out.push(b'\n');
            }
        }
        out
    }

    /// Keeps the group lines of allowed names and of the caller's gid, each with its member
    /// list cut to the allowed users.
    fn group(&self, data: &[u8], gid: u32) -> Vec<u8> {
        let mut out = Vec::new();
        for line in lines(data) {
            let f: Vec<&[u8]> = line.split(|&b| b == b':').collect();
            if f.len() != 4 {
                continue;
            }
            if !(self.allowed(f[0]) || (self.keep_caller && number(f[2]) == Some(gid))) {
                continue;
            }
            for part in &f[..3] {
                out.extend_from_slice(part);
                out.push(b':');
            }
            let members: Vec<&[u8]> = f[3].split(|&b| b == b',').filter(|m| self.allowed(m)).collect();
            out.extend_from_slice(&members.join(&b","[..]));
            out.push(b'\n');
        }
        out
    }
}

/// The complete lines of data: a line cut by the 1 MiB cap is dropped, not half-served.
fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let complete = match data.iter().rposition(|&b| b == b'\n') {
        Some(i) => &data[..i + 1],
        None => &data[..0],
    };
    complete.split(|&b| b == b'\n').filter(|l| !l.is_empty() && l[0] != b'#')
}

fn number(b: &[u8]) -> Option<u32> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

impl Plugin for Users {
    fn init(&mut self, config: &Config) -> Result<(), String> {
        if let Some(list) = config.strings("allow") {
            self.allow = list?;
        }
        if let Some(v) = config.get("keep_caller") {
            self.keep_caller = match v.as_str() {
                "true" => true,
                "false" => false,
                _ => return Err("keep_caller: want true or false".into()),
            };
        }
        Ok(())
    }

    fn open(&mut self, req: &Request) -> Verdict {
        let real = match &req.real {
            None => return Verdict::ReadReal,
            Some(real) => real,
        };
        if let Some(errno) = real.errno {
            return Verdict::Deny(errno);
        }
        match req.path {
            b"/etc/passwd" => Verdict::serve(self.passwd(real.data, req.uid)),
            b"/etc/group" => Verdict::serve(self.group(real.data, req.gid)),
            _ => Verdict::Next,
        }
    }
}

scrim::plugin! {
    name: "users",
    version: "1.0.0",
    claims: ["/etc/passwd", "/etc/group"],
    plugin: Users { allow: vec!["root".into(), "nobody".into()], keep_caller: true },
}
