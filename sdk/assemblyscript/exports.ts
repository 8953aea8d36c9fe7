// The ABI exports for `export * from "scrim-plugin-sdk/exports"` in a plugin's entry file.
export * from "./assembly/exports";
