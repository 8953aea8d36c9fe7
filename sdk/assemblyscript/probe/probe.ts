// probe is the AssemblyScript SDK's test plugin. It answers every verdict the ABI has, chosen
// by the path, so that one Go table (sdk/conformance) checks the C, Rust and AssemblyScript
// SDKs alike:
//
//   /probe/next, /probe/real, /probe/fail   those verdicts
//   /probe/deny/N                           deny with errno N
//   /probe/greeting                         the configured greeting ("hello" by default)
//   /probe/request                          every request field, served with mode 0640
//   /probe/upper/...                        the real file in upper case, or its read errno
//   /probe/big                              1 MiB + 1 byte, which scrim must refuse
//   /probe/config                           the whole configuration as JSON
//   /probe/log                              "logged", after a warning "probe log: PATH"
//   /probe/echo/...                         the path's bytes as they came (not always UTF-8)
//   /probe/meta                             "hello meta\n", mode 0640, mtime 1700000000 s 5 ns;
//                                           a look-up of it gets the size alone
//   /probe/metadir                          a directory, mode 0555, mtime 1700000000 s 5 ns
//   anything else                           ENOENT
//
// A configuration key "refuse" makes init refuse with "refused: VALUE". A key "claims", paths
// separated by spaces, replaces the claim /probe/** (ABI 1.1: claims from the configuration).

import { Config, Errno, Level, Plugin, Request, Verdict, log, register, registerClaimsFrom } from "../assembly/index";
export * from "../assembly/exports";

const META_TEXT = "hello meta\n";

function claimsFrom(config: Config): string[] {
  const list = config.get("claims");
  if (list == null) return ["/probe/**"];
  const out: string[] = [];
  const parts = list.split(" ");
  for (let i = 0; i < parts.length; i++) {
    if (parts[i].length > 0) out.push(parts[i]);
  }
  return out;
}

class Probe extends Plugin {
  greeting: string = "hello";
  config: string = "";

  init(config: Config): string | null {
    const why = config.get("refuse");
    if (why != null) return "refused: " + why;
    this.config = config.json();
    const g = config.get("greeting");
    if (g != null) this.greeting = g;
    return null;
  }

  open(req: Request): Verdict {
    const p = req.path;
    if (p.startsWith("/probe/echo/")) return Verdict.serveBytes(req.pathBytes);
    if (p == "/probe/next") return Verdict.next();
    if (p == "/probe/real") return Verdict.real();
    if (p == "/probe/fail") return Verdict.fail("probe fails on purpose");
    if (p.startsWith("/probe/deny/")) return Verdict.deny(I32.parseInt(p.substring(12)));
    if (p == "/probe/greeting") return Verdict.serve(this.greeting + "\n");
    if (p == "/probe/request") {
      return Verdict.serve(
        "path=" + p + "\nsandbox=" + req.sandbox +
        "\nsyscall=" + req.syscall.toString() +
        "\nflags=" + req.flags.toString() +
        "\nmode=" + req.mode.toString() +
        "\nobject_mode=" + req.objectMode.toString() +
        "\npid=" + req.pid.toString() +
        "\ntid=" + req.tid.toString() +
        "\nuid=" + req.uid.toString() +
        "\ngid=" + req.gid.toString() +
        "\nop=" + req.op.toString() + "\n",
      ).withMode(0o640);
    }
    if (p == "/probe/meta") {
      const v = req.isLookup() ? Verdict.serveSize(META_TEXT.length) : Verdict.serve(META_TEXT);
      return v.withMode(0o640).withMtime(1700000000, 5);
    }
    if (p == "/probe/metadir") return Verdict.serveDir().withMtime(1700000000, 5);
    if (p.startsWith("/probe/upper/")) {
      const real = req.real;
      if (real == null) return Verdict.readReal();
      if (real.errno != 0) return Verdict.deny(real.errno);
      const out = new Uint8Array(real.data.length);
      for (let i = 0; i < out.length; i++) {
        const c = real.data[i];
        out[i] = c >= 0x61 && c <= 0x7a ? c - 0x20 : c;
      }
      return Verdict.serveBytes(out);
    }
    if (p == "/probe/config") return Verdict.serve(this.config);
    if (p == "/probe/log") {
      log(Level.WARN, "probe log: " + p);
      return Verdict.serve("logged\n");
    }
    if (p == "/probe/big") {
      const big = new Uint8Array((1 << 20) + 1);
      big.fill(0x78);
      return Verdict.serveBytes(big);
    }
    return Verdict.deny(Errno.ENOENT);
  }
}

register("probe-assemblyscript", "1.0.0", [], new Probe());
registerClaimsFrom(claimsFrom);
