// The functions scrim calls (ABI.md §2). A plugin's entry file re-exports them:
//
//   export * from "scrim-plugin-sdk/exports";

import { runDescribe, runInit, runOpen } from "./index";

/** Marks the module as ABI v1. Never called. */
export function scrim_abi_v1(): void {}

/** Hands scrim the describe document built by register. */
export function scrim_describe(): i32 {
  return runDescribe();
}

/** Gives the plugin its configuration. */
export function scrim_init(configLen: i32): i32 {
  return runInit();
}

/** Decides one open. */
export function scrim_open(reqLen: i32): i32 {
  return runOpen(reqLen);
}
