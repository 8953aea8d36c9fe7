package conformance_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/assemblyscript"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// A later minor version of the ABI may grow the request header and append fields after the
// v1.1 ones (plugins/ABI.md §1, §6); a plugin must find the path and the sandbox name through their
// offsets and ignore what it does not know. scrim's own host always sends the v1.1 header, so
// this test plays the host itself: a minimal scrim_v1 module that hands each probe a request
// with a larger header full of bytes no SDK may read, and one of v1.0's 80 bytes, which has
// no op.

// fakeHost answers the scrim_v1 imports for one instance with a fixed request.
type fakeHost struct {
	req      []byte
	content  []byte
	mode     uint32
	describe []byte
}

func (h *fakeHost) module(rt wazero.Runtime) wazero.HostModuleBuilder {
	b := rt.NewHostModuleBuilder("scrim_v1")
	i32 := api.ValueTypeI32
	fn := func(name string, f func(mem api.Memory, s []uint64) int32, n int) {
		params := make([]api.ValueType, n)
		for i := range params {
			params[i] = i32
		}
		b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, mod api.Module, s []uint64) {
			s[0] = api.EncodeI32(f(mod.Memory(), s))
		}), params, []api.ValueType{i32}).Export(name)
	}
	read := func(mem api.Memory, ptr, n uint64) []byte {
		b, ok := mem.Read(uint32(ptr), uint32(n))
		if !ok {
			panic("out of bounds")
		}
		return append([]byte(nil), b...)
	}
	copyOut := func(mem api.Memory, ptr, capacity uint64, data []byte) int32 {
		n := min(int(uint32(capacity)), len(data))
		if n > 0 && !mem.Write(uint32(ptr), data[:n]) {
			panic("out of bounds")
		}
		return int32(len(data))
	}
	fn("describe_set", func(mem api.Memory, s []uint64) int32 { h.describe = read(mem, s[0], s[1]); return 0 }, 2)
	fn("config_read", func(mem api.Memory, s []uint64) int32 { return copyOut(mem, s[0], s[1], []byte("{}")) }, 2)
	fn("config_get", func(api.Memory, []uint64) int32 { return -5 }, 4)
	fn("request_read", func(mem api.Memory, s []uint64) int32 { return copyOut(mem, s[0], s[1], h.req) }, 2)
	fn("real_read", func(api.Memory, []uint64) int32 { return 0 }, 3)
	fn("content_write", func(mem api.Memory, s []uint64) int32 {
		h.content = append(h.content, read(mem, s[0], s[1])...)
		return 0
	}, 2)
	fn("set_mode", func(_ api.Memory, s []uint64) int32 { h.mode = uint32(s[0]); return 0 }, 1)
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, _ api.Module, s []uint64) {
		s[0] = 0
	}), []api.ValueType{api.ValueTypeI64}, []api.ValueType{i32}).Export("set_size")
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, _ api.Module, s []uint64) {
		s[0] = 0
	}), []api.ValueType{api.ValueTypeI64, i32}, []api.ValueType{i32}).Export("set_mtime")
	fn("error_set", func(api.Memory, []uint64) int32 { return 0 }, 2)
	fn("log", func(api.Memory, []uint64) int32 { return 0 }, 3)
	fn("host_abi_minor", func(api.Memory, []uint64) int32 { return 1 }, 0)
	return b
}

// futureRequest encodes a request as a host of a later minor version might: a header of
// headerSize bytes whose bytes past the v1.1 fields are 0xAB, then the strings. With
// headerSize 80 it is a v1.0 request.
func futureRequest(headerSize int, path, sandbox string) []byte {
	le := binary.LittleEndian
	b := bytes.Repeat([]byte{0xAB}, headerSize)
	le.PutUint32(b[0:], uint32(headerSize))
	le.PutUint16(b[4:], 1)
	le.PutUint16(b[6:], 2) // abi_minor
	le.PutUint32(b[8:], 0) // phase
	le.PutUint32(b[12:], 2)
	le.PutUint64(b[16:], 0x80000)
	le.PutUint32(b[24:], 0o600)
	le.PutUint32(b[28:], 0o100644)
	le.PutUint32(b[32:], 42)
	le.PutUint32(b[36:], 43)
	le.PutUint32(b[40:], 1000)
	le.PutUint32(b[44:], 100)
	le.PutUint32(b[48:], uint32(headerSize))
	le.PutUint32(b[52:], uint32(len(path)))
	le.PutUint32(b[56:], uint32(headerSize+len(path)))
	le.PutUint32(b[60:], uint32(len(sandbox)))
	for off := 64; off < min(88, headerSize); off += 4 {
		le.PutUint32(b[off:], 0) // real_len, real_errno, real_flags, reserved, op, reserved
	}
	b = append(b, path...)
	return append(b, sandbox...)
}

func TestProbeIgnoresFutureHeaderFields(t *testing.T) {
	ctx := context.Background()
	cache, err := wazero.NewCompilationCacheWithDir(cacheDir)
	require.NoError(t, err)
	defer cache.Close(ctx)
	const want = "path=/probe/request\nsandbox=future-box\nsyscall=2\nflags=524288\nmode=384\n" +
		"object_mode=33188\npid=42\ntid=43\nuid=1000\ngid=100\nop=0\n"
	for _, p := range probes {
		t.Run(p.lang, func(t *testing.T) {
			wasmBytes, err := readWasm(p.path)
			require.NoError(t, err)
			for _, headerSize := range []int{80, 88, 96, 200} {
				h := &fakeHost{}
				rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(cache))
				defer rt.Close(ctx)
				wasi_snapshot_preview1.MustInstantiate(ctx, rt)
				env := rt.NewHostModuleBuilder("env")
				assemblyscript.NewFunctionExporter().ExportFunctions(env)
				_, err = env.Instantiate(ctx)
				require.NoError(t, err)
				_, err = h.module(rt).Instantiate(ctx)
				require.NoError(t, err)
				mod, err := rt.InstantiateWithConfig(ctx, wasmBytes, wazero.NewModuleConfig().WithStartFunctions())
				require.NoError(t, err)
				if f := mod.ExportedFunction("_initialize"); f != nil {
					_, err = f.Call(ctx)
					require.NoError(t, err)
				}
				ret, err := mod.ExportedFunction("scrim_describe").Call(ctx)
				require.NoError(t, err)
				require.Equal(t, uint64(0), ret[0])
				require.Contains(t, string(h.describe), `"claims":["/probe/**"]`)
				ret, err = mod.ExportedFunction("scrim_init").Call(ctx, 2)
				require.NoError(t, err)
				require.Equal(t, uint64(0), ret[0])

				h.req = futureRequest(headerSize, "/probe/request", "future-box")
				ret, err = mod.ExportedFunction("scrim_open").Call(ctx, uint64(len(h.req)))
				require.NoError(t, err)
				require.Equal(t, int32(1), api.DecodeI32(ret[0]), "header of %d bytes: want SERVE", headerSize)
				require.Equal(t, want, string(h.content), "header of %d bytes", headerSize)
				require.Equal(t, uint32(0o640), h.mode)
			}
		})
	}
}

func readWasm(rel string) ([]byte, error) { return os.ReadFile(wasmPath(rel)) }
