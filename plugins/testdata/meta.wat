;; ABI 1.1: claims from the configuration, and metadata for served paths. scrim_describe reads
;; config_get("claim") and claims that path and everything below it; scrim_open answers by the
;; path's last byte:
;;   m  the size (7), mtime (1700000000.5) and mode 0640 without content (set_size, set_mtime)
;;   c  the content "content" with the same mtime
;;   d  a directory, mode 0755 (set_mode with S_IFDIR)
;;   x  denies with EACCES
;;   b  serves "ok" when set_mode refuses a socket's type bits, else FAIL
;;   o  serves the request's op as one byte ('0' + op)
(module
  (import "scrim_v1" "describe_set" (func $describe_set (param i32 i32) (result i32)))
  (import "scrim_v1" "config_get" (func $config_get (param i32 i32 i32 i32) (result i32)))
  (import "scrim_v1" "request_read" (func $request_read (param i32 i32) (result i32)))
  (import "scrim_v1" "content_write" (func $content_write (param i32 i32) (result i32)))
  (import "scrim_v1" "set_mode" (func $set_mode (param i32) (result i32)))
  (import "scrim_v1" "set_size" (func $set_size (param i64) (result i32)))
  (import "scrim_v1" "set_mtime" (func $set_mtime (param i64 i32) (result i32)))
  (memory (export "memory") 1)
  ;; {"abi_minor":1,"claims":["   then the claim, then   ","CLAIM/**"]}
  (data (i32.const 0) "{\"abi_minor\":1,\"claims\":[\"")
  (data (i32.const 64) "claim")
  (data (i32.const 80) "content")
  (data (i32.const 96) "ok")
  (func (export "scrim_abi_v1"))
  (func (export "scrim_describe") (result i32)
    (local $n i32) (local $p i32)
    ;; The claim at 26, then "," and the claim again with "/**" behind it.
    (local.set $n (call $config_get (i32.const 64) (i32.const 5) (i32.const 26) (i32.const 1000)))
    (if (i32.le_s (local.get $n) (i32.const 0)) (then (return (i32.const 1))))
    (local.set $p (i32.add (i32.const 26) (local.get $n)))
    (i32.store (local.get $p) (i32.const 0x222c22)) ;; "," and the opening quote: bytes 22 2c 22
    (local.set $p (i32.add (local.get $p) (i32.const 3)))
    (memory.copy (local.get $p) (i32.const 26) (local.get $n))
    (local.set $p (i32.add (local.get $p) (local.get $n)))
    (i32.store (local.get $p) (i32.const 0x2a2a2f)) ;; "/**"
    (local.set $p (i32.add (local.get $p) (i32.const 3)))
    (i32.store (local.get $p) (i32.const 0x7d5d22)) ;; "]}
    (local.set $p (i32.add (local.get $p) (i32.const 3)))
    (drop (call $describe_set (i32.const 0) (local.get $p)))
    (i32.const 0))
  (func (export "scrim_init") (param i32) (result i32) (i32.const 0))
  (func (export "scrim_open") (param $len i32) (result i32)
    (local $last i32)
    (drop (call $request_read (i32.const 4096) (i32.const 8192)))
    (local.set $last (i32.load8_u
      (i32.add (i32.const 4095)
        (i32.add (i32.load (i32.const 4144)) (i32.load (i32.const 4148))))))
    (if (i32.eq (local.get $last) (i32.const 0x6d)) ;; m
      (then
        (drop (call $set_size (i64.const 7)))
        (drop (call $set_mtime (i64.const 1700000000) (i32.const 500000000)))
        (drop (call $set_mode (i32.const 416)))
        (return (i32.const 1))))
    (if (i32.eq (local.get $last) (i32.const 0x63)) ;; c
      (then
        (drop (call $content_write (i32.const 80) (i32.const 7)))
        (drop (call $set_mtime (i64.const 1700000000) (i32.const 500000000)))
        (return (i32.const 1))))
    (if (i32.eq (local.get $last) (i32.const 0x64)) ;; d
      (then
        (drop (call $set_mode (i32.const 16877)))
        (return (i32.const 1))))
    (if (i32.eq (local.get $last) (i32.const 0x78)) ;; x
      (then (return (i32.const -13))))
    (if (i32.eq (local.get $last) (i32.const 0x62)) ;; b
      (then
        (if (i32.ne (call $set_mode (i32.const 49572)) (i32.const -1))
          (then (return (i32.const 4))))
        (drop (call $content_write (i32.const 96) (i32.const 2)))
        (return (i32.const 1))))
    (if (i32.eq (local.get $last) (i32.const 0x6f)) ;; o
      (then
        (i32.store8 (i32.const 100) (i32.add (i32.const 0x30) (i32.load (i32.const 4176))))
        (drop (call $content_write (i32.const 100) (i32.const 1)))
        (return (i32.const 1))))
    (i32.const 0)))
