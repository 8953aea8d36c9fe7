module github.com/scrim-sandbox/scrim/sdk/go

// The SDK is a module of its own, so that a plugin's module needs neither scrim's dependencies
// nor scrim's Go version (sdk/go/README.md). Its code uses the standard library only: testify
// is for its own tests, and building a plugin never loads it.
go 1.24

require github.com/stretchr/testify v1.12.1

require go.yaml.in/yaml/v3 v3.0.5 // indirect
