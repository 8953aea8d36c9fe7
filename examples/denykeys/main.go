// Command denykeys is a scrim plugin that hides private keys: any open of a .pem or .key
// file, or of an ssh private key, fails with EACCES wherever it lies and however it is
// spelled (scrim matches the resolved path).
package main

import plugin "github.com/scrim-sandbox/scrim/sdk/go"

func init() {
	plugin.Register(plugin.Plugin{
		Name:    "denykeys",
		Version: "1.0.0",
		Claims: []string{
			"/**/*.pem", "/**/*.key",
			"/**/id_rsa", "/**/id_ecdsa", "/**/id_ed25519",
		},
		Open: func(req *plugin.Request) plugin.Verdict {
			return plugin.Deny(plugin.EACCES)
		},
	})
}

func main() {}
