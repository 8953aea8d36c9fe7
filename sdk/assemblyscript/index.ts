// The package entry for `import ... from "scrim-plugin-sdk"`: asc resolves a package import
// to this file, not to package.json's fields.
export * from "./assembly/index";
