package plugins

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/scrim-sandbox/scrim/supervisor/shim"
)

// FuzzRequest encodes fuzzed requests and reads them back through a real guest (echo.wasm
// serves the request it received), decoding the bytes with ABI.md §6 alone: every field a
// plugin sees must be the one scrim meant, and the strings must lie where the header says.
//
//	go test ./plugins -run '^$' -fuzz '^FuzzRequest$' -fuzztime 10m
func FuzzRequest(f *testing.F) {
	f.Add([]byte("x"), uint8(2), uint64(unix.O_RDONLY|unix.O_CLOEXEC), uint32(0o600), uint32(unix.S_IFREG|0o644), int32(42), int32(43), uint32(1000), uint32(100))
	f.Add([]byte("caf\xe9/\x00/\xff"), uint8(3), uint64(unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY), uint32(0o7777), uint32(0), int32(-1), int32(1<<30), uint32(0xffffffff), uint32(0))
	f.Add(bytes.Repeat([]byte("a/"), 2040), uint8(4), uint64(1)<<40|unix.O_TMPFILE, uint32(0), uint32(unix.S_IFDIR|0o755), int32(1), int32(1), uint32(0), uint32(0))
	p := load(f, Spec{Name: "echo", Path: testdata("echo"), Instances: 1})
	f.Fuzz(func(t *testing.T, tail []byte, sys uint8, flags uint64, mode, objMode uint32, pid, tid int32, uid, gid uint32) {
		path := canonical("/t", tail)
		if len(path) > maxPath {
			return
		}
		req := &shim.Request{
			Syscall: shim.Syscall(sys%4 + 1), PID: int(pid), TID: int(tid), Path: path,
			Flags: int(flags), Mode: mode, Cred: shim.Cred{FSUID: uid, FSGID: gid, UID: uid + 1, GID: gid + 1},
			Object: shim.Object{Exists: objMode != 0, Mode: objMode},
		}
		// Only reads are served; a served write would be EROFS whatever the guest said.
		req.Flags &^= unix.O_ACCMODE | unix.O_CREAT | unix.O_TRUNC | unix.O_TMPFILE | unix.O_DIRECTORY
		p.openTill.Store(0)
		p.faultRun.Store(0)
		res, err := p.Open(context.Background(), req)
		require.NoError(t, err)
		require.Equal(t, shim.ActServe, res.Action, "errno %v", res.Errno)
		b := res.Content.(shim.Bytes).Data

		le := binary.LittleEndian
		require.GreaterOrEqual(t, len(b), reqHeaderSize)
		hs := le.Uint32(b[0:])
		require.Equal(t, uint32(reqHeaderSize), hs, "header_size")
		require.Equal(t, uint16(1), le.Uint16(b[4:]), "abi_major")
		require.Equal(t, uint16(abiMinor), le.Uint16(b[6:]), "abi_minor")
		require.Equal(t, uint32(0), le.Uint32(b[8:]), "phase")
		require.Equal(t, uint32(req.Syscall), le.Uint32(b[12:]), "syscall")
		// The flags are the C int the kernel saw: the high half of a 64-bit value is not
		// part of open(2)'s flags.
		require.Equal(t, uint64(uint32(req.Flags)), le.Uint64(b[16:]), "flags")
		require.Equal(t, mode, le.Uint32(b[24:]), "mode")
		require.Equal(t, objMode, le.Uint32(b[28:]), "object_mode")
		require.Equal(t, pid, int32(le.Uint32(b[32:])), "pid")
		require.Equal(t, tid, int32(le.Uint32(b[36:])), "tid")
		require.Equal(t, uid, le.Uint32(b[40:]), "uid is the fsuid")
		require.Equal(t, gid, le.Uint32(b[44:]), "gid is the fsgid")
		require.Equal(t, make([]byte, 24), b[64:88], "phase-1 fields, reserved, op (open) and reserved are zero")
		str := func(offAt int, what string) []byte {
			off, n := le.Uint32(b[offAt:]), le.Uint32(b[offAt+4:])
			require.GreaterOrEqual(t, off, hs, what)
			require.LessOrEqual(t, uint64(off)+uint64(n), uint64(len(b)), what)
			return b[off : off+n]
		}
		require.Equal(t, path, str(48, "path"))
		require.Equal(t, []byte("test-box"), str(56, "sandbox"))
		require.Len(t, b, reqHeaderSize+len(path)+len("test-box"), "nothing after the strings")
	})
}

// canonical makes a path as the resolver hands them out from fuzz bytes: prefix, then the
// bytes' components without empty ones, "." or "..", and NUL bytes turned into "x".
func canonical(prefix string, tail []byte) []byte {
	path := []byte(prefix)
	for _, c := range bytes.Split(bytes.ReplaceAll(tail, []byte{0}, []byte("x")), []byte("/")) {
		if len(c) == 0 || string(c) == "." || string(c) == ".." {
			continue
		}
		path = append(append(path, '/'), c...)
	}
	if len(path) == len(prefix) {
		path = append(path, "/x"...)
	}
	return path
}

// scriptWasm is a plugin that does what its request's path says (see FuzzVerdict). Rebuild:
// save the WAT in the comment below as script.wat and run `wat2wasm script.wat -o script.wasm`,
// then `xxd -p script.wasm | tr -d '\n'`.
//
//	(module
//	  (import "scrim_v1" "describe_set" (func $describe_set (param i32 i32) (result i32)))
//	  (import "scrim_v1" "request_read" (func $request_read (param i32 i32) (result i32)))
//	  (import "scrim_v1" "content_write" (func $content_write (param i32 i32) (result i32)))
//	  (import "scrim_v1" "set_mode" (func $set_mode (param i32) (result i32)))
//	  (import "scrim_v1" "error_set" (func $error_set (param i32 i32) (result i32)))
//	  (memory (export "memory") 1)
//	  (data (i32.const 0) "{\"claims\":[\"/s/**\"]}")
//	  (func (export "scrim_abi_v1"))
//	  (func (export "scrim_describe") (result i32)
//	    (drop (call $describe_set (i32.const 0) (i32.const 20)))
//	    (i32.const 0))
//	  (func (export "scrim_init") (param i32) (result i32) (i32.const 0))
//	  (func (export "scrim_open") (param $len i32) (result i32)
//	    (local $s i32)
//	    (drop (call $request_read (i32.const 1024) (i32.const 8192)))
//	    (local.set $s (i32.add (i32.const 1027) (i32.load (i32.const 1072))))
//	    (if (i32.and (i32.load offset=4 (local.get $s)) (i32.const 1))
//	      (then (drop (call $set_mode (i32.load offset=8 (local.get $s))))))
//	    (if (i32.and (i32.load offset=4 (local.get $s)) (i32.const 2))
//	      (then (drop (call $content_write (i32.load offset=12 (local.get $s)) (i32.load offset=16 (local.get $s))))))
//	    (if (i32.and (i32.load offset=4 (local.get $s)) (i32.const 4))
//	      (then (drop (call $error_set (i32.load offset=20 (local.get $s)) (i32.load offset=24 (local.get $s))))))
//	    (i32.load (local.get $s))))
const scriptWasm = "" +
	"0061736d0100000001130460027f7f017f60017f017f6000006000017f02730508736372696d5f76310c646573637269" +
	"62655f736574000008736372696d5f76310c726571756573745f72656164000008736372696d5f76310d636f6e74656e" +
	"745f7772697465000008736372696d5f7631087365745f6d6f6465000108736372696d5f7631096572726f725f736574" +
	"0000030504020301010503010001074405066d656d6f727902000c736372696d5f6162695f763100050e736372696d5f" +
	"646573637269626500060a736372696d5f696e697400070a736372696d5f6f70656e00080a780402000b0b0041004114" +
	"10001a41000b040041000b6201017f4180084180c00010011a41830841b0082802006a21012001280204410171044020" +
	"0128020810031a0b20012802044102710440200128020c200128021010021a0b20012802044104710440200128021420" +
	"0128021810041a0b20012802000b0b1a010041000b147b22636c61696d73223a5b222f732f2a2a225d7d" +
	""

// The script plugin's memory: the request lands at reqBase, so a script (after "/s/") starts
// at scriptBase and its free bytes at dataBase.
const (
	reqBase    = 1024
	scriptBase = reqBase + reqHeaderSize + len("/s/")
	dataBase   = scriptBase + 28
	guestMem   = 64 << 10
)

// FuzzVerdict makes a guest return fuzzed verdicts and call content_write, set_mode and
// error_set with fuzzed pointers, lengths and modes, and checks the result against ABI.md §7
// and §9 written out as plain Go: a fault of any kind fails the open with on_error (EIO), a
// valid verdict means exactly what the table says, and served bytes are the ones written.
//
//	go test ./plugins -run '^$' -fuzz '^FuzzVerdict$' -fuzztime 10m
func FuzzVerdict(f *testing.F) {
	f.Add(int32(verdictServe), uint8(3), uint32(0o640), uint32(0), int32(5), uint32(0), int32(0), []byte("hello"), uint8(0))
	f.Add(int32(verdictServe), uint8(2), uint32(0), uint32(1<<31), int32(5), uint32(0), int32(0), []byte("oob"), uint8(0))
	f.Add(int32(verdictServe), uint8(2), uint32(0), uint32(0), int32(maxContent+1), uint32(0), int32(0), []byte{}, uint8(0))
	f.Add(int32(verdictServe), uint8(1), uint32(0o1777), uint32(0), int32(0), uint32(0), int32(0), []byte{}, uint8(1))
	f.Add(int32(verdictServe), uint8(0), uint32(0), uint32(0), int32(0), uint32(0), int32(0), []byte{}, uint8(2))
	f.Add(int32(verdictServe), uint8(1), uint32(0o100640), uint32(0), int32(0), uint32(0), int32(0), []byte{}, uint8(0))
	f.Add(int32(verdictServe), uint8(1), uint32(0o040755), uint32(0), int32(0), uint32(0), int32(0), []byte{}, uint8(0))
	f.Add(int32(verdictServe), uint8(1), uint32(0o140644), uint32(0), int32(0), uint32(0), int32(0), []byte{}, uint8(0))
	f.Add(int32(verdictReadReal), uint8(0), uint32(0), uint32(0), int32(0), uint32(0), int32(0), []byte{}, uint8(0))
	f.Add(int32(verdictFail), uint8(4), uint32(0), uint32(0), int32(0), uint32(0), int32(4), []byte("why?"), uint8(0))
	f.Add(int32(-13), uint8(4), uint32(0), uint32(guestMem-1), int32(0), uint32(guestMem-1), int32(2), []byte{}, uint8(0))
	f.Add(int32(-134), uint8(0), uint32(0), uint32(0), int32(0), uint32(0), int32(0), []byte{}, uint8(0))
	f.Add(int32(verdictNext), uint8(7), uint32(0o777), uint32(0), int32(-1), uint32(0), int32(-1), []byte{}, uint8(0))
	f.Add(int32(verdictReal), uint8(0), uint32(0), uint32(0), int32(0), uint32(0), int32(0), []byte{}, uint8(0))
	f.Add(int32(5), uint8(0), uint32(0), uint32(0), int32(0), uint32(0), int32(0), []byte{}, uint8(0))

	wasm, err := hex.DecodeString(scriptWasm)
	if err != nil {
		f.Fatal(err)
	}
	file := filepath.Join(f.TempDir(), "script.wasm")
	if err := os.WriteFile(file, wasm, 0o644); err != nil {
		f.Fatal(err)
	}
	p := load(f, Spec{Name: "script", Path: file, Instances: 1})
	flagSet := []int{unix.O_RDONLY, unix.O_RDONLY | unix.O_NONBLOCK | unix.O_CLOEXEC, unix.O_RDONLY | unix.O_DIRECTORY,
		unix.O_WRONLY, unix.O_RDWR, unix.O_RDONLY | unix.O_CREAT, unix.O_RDONLY | unix.O_TRUNC, unix.O_TMPFILE | unix.O_RDWR}

	f.Fuzz(func(t *testing.T, verdict int32, calls uint8, mode, cptr uint32, clen int32, eptr uint32, elen int32, data []byte, flagSel uint8) {
		// Pointers below the guest's memory size are taken relative to the free bytes, so
		// that the fuzzer easily reaches the content it chose; larger ones stay raw.
		if cptr < guestMem {
			cptr = (cptr + uint32(dataBase)) % guestMem
		}
		if eptr < guestMem {
			eptr = (eptr + uint32(dataBase)) % guestMem
		}
		var script []byte
		for _, v := range []uint32{uint32(verdict), uint32(calls), mode, cptr, uint32(clen), eptr, uint32(elen)} {
			script = binary.LittleEndian.AppendUint32(script, v)
		}
		path := append(append([]byte("/s/"), script...), data...)
		req := request(string(path), flagSet[int(flagSel)%len(flagSet)])
		if !p.claims.match(path) {
			// Script bytes can spell "//", which no resolved path contains and "/s/**"
			// does not claim: the plugin is not asked.
			res, err := p.Open(context.Background(), req)
			require.NoError(t, err)
			require.Equal(t, shim.Next(), res)
			return
		}
		p.openTill.Store(0)
		p.faultRun.Store(0)
		if len(path) <= maxPath {
			waitReady(t, p)
		}
		res, err := p.Open(context.Background(), req)
		require.NoError(t, err)

		// The oracle, with ABI.md's numbers spelled out (verdicts 0 NEXT, 1 SERVE, 2 REAL;
		// errnos 1...133; content cap 1 MiB) rather than read from the host's constants.
		// inBounds is the guest's view of a pointer and length.
		inBounds := func(ptr uint32, n int32) bool { return uint64(ptr)+uint64(uint32(n)) <= guestMem }
		fault := len(path) > maxPath
		wantMode := uint32(0o444)
		var content []byte
		contentKnown := true
		dir := false
		if typ := mode & 0o170000; calls&1 != 0 && mode&^0o170777 == 0 && (typ == 0 || typ == 0o100000 || typ == 0o040000) {
			// ABI 1.1: the permission bits, and the type of a regular file or a directory.
			wantMode, dir = mode&0o777, typ == 0o040000
		}
		if calls&2 != 0 && clen >= 0 {
			switch {
			case int(clen) > 1<<20:
				fault = true
			case !inBounds(cptr, clen):
				fault = true
			default:
				// Only the request's own bytes are known; beyond them is what earlier
				// calls left in the guest's memory.
				reqEnd := uint64(reqBase + reqHeaderSize + len(path) + len("test-box"))
				if uint64(cptr) >= reqBase && uint64(cptr)+uint64(clen) <= reqEnd {
					content = encodeRequest(nil, req, "test-box", 0, 0, 0, 0, reqOpOpen)[cptr-reqBase : cptr-reqBase+uint32(clen)]
				} else {
					contentKnown = false
				}
			}
		}
		if calls&4 != 0 && elen >= 0 && !inBounds(eptr, elen) {
			fault = true
		}
		var want shim.Result
		switch {
		case fault:
			want = shim.Deny(unix.EIO)
		case verdict == 0:
			want = shim.Next()
		case verdict == 2:
			want = shim.Real()
		case verdict == 1 && dir:
			// A served directory answers look-ups only; an open goes on.
			want = shim.Next()
		case verdict == 1:
			// Served as Bytes whatever the request wants: the supervisor refuses writes
			// and O_DIRECTORY for every shim's content (shim.Request.ReadOnlyErrno).
			require.Equal(t, shim.ActServe, res.Action, "errno %v", res.Errno)
			b := res.Content.(shim.Bytes)
			got := b.Data
			require.Equal(t, wantMode, b.Mode&0o7777, "mode")
			require.Equal(t, uint32(unix.S_IFREG), b.Mode&unix.S_IFMT)
			if contentKnown {
				require.Equal(t, len(content), len(got))
				require.True(t, bytes.Equal(content, got), "served bytes differ from the ones written")
			} else {
				require.Len(t, got, int(clen))
			}
			return
		case verdict < 0 && verdict >= -133:
			want = shim.Deny(unix.Errno(-verdict))
		default:
			// READ_REAL (the guest answers READ_REAL again in phase 1), FAIL, and every
			// value outside the table.
			want = shim.Deny(unix.EIO)
		}
		require.Equal(t, want, res)
	})
}
