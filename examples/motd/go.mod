// A plugin is a module of its own that uses the Go SDK from this checkout, as sdk/go/README.md
// tells plugin authors to.
module github.com/scrim-sandbox/scrim/examples/motd

go 1.24

require github.com/scrim-sandbox/scrim/sdk/go v0.0.0

replace github.com/scrim-sandbox/scrim/sdk/go => ../../sdk/go
