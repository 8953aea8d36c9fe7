// banner is a scrim plugin, written in AssemblyScript, that serves /etc/motd from its
// configuration and fills in who is asking at each open:
//
//   [plugin.config]
//   text = "Welcome to {sandbox}, uid {uid}.\n"
//
// Placeholders: {sandbox}, {pid}, {uid}, {gid}; "{{" gives a literal "{". Without text it
// serves "Welcome to {sandbox}.\n". An unknown placeholder is refused when scrim starts.

import { Config, Plugin, Request, Verdict, register } from "../../sdk/assemblyscript/assembly/index";
export * from "../../sdk/assemblyscript/assembly/exports";

const PLACEHOLDERS = ["sandbox", "pid", "uid", "gid"];

class Banner extends Plugin {
  text: string = "Welcome to {sandbox}.\n";

  init(config: Config): string | null {
    const t = config.get("text");
    if (t != null) this.text = t;
    // Check every placeholder now, so that a typo stops scrim instead of showing up later.
    for (let i = this.text.indexOf("{"); i >= 0; i = this.text.indexOf("{", i + 1)) {
      if (this.text.charAt(i + 1) == "{") {
        i++;
        continue;
      }
      const end = this.text.indexOf("}", i);
      if (end < 0) return "text: \"{\" at " + i.toString() + " is not closed";
      const name = this.text.substring(i + 1, end);
      if (!PLACEHOLDERS.includes(name)) return "text: unknown placeholder {" + name + "}";
    }
    return null;
  }

  open(req: Request): Verdict {
    let out = "";
    let i = 0;
    while (i < this.text.length) {
      const open = this.text.indexOf("{", i);
      if (open < 0) {
        out += this.text.substring(i);
        break;
      }
      out += this.text.substring(i, open);
      if (this.text.charAt(open + 1) == "{") {
        out += "{";
        i = open + 2;
        continue;
      }
      const end = this.text.indexOf("}", open);
      const name = this.text.substring(open + 1, end);
      if (name == "sandbox") out += req.sandbox;
      else if (name == "pid") out += req.pid.toString();
      else if (name == "uid") out += req.uid.toString();
      else if (name == "gid") out += req.gid.toString();
      i = end + 1;
    }
    return Verdict.serve(out);
  }
}

register("banner", "1.0.0", ["/etc/motd"], new Banner());
