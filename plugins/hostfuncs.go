package plugins

import (
	"context"

	"github.com/hashicorp/go-hclog"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// newHostModule builds the scrim_v1 import module (ABI.md §8). Every function finds the
// calling instance through the call's context and touches guest memory only inside the
// ranges its arguments name, copying in or out before it returns.
func newHostModule(rt wazero.Runtime) wazero.HostModuleBuilder {
	b := rt.NewHostModuleBuilder(importV1)
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	fn := func(name string, f func(inst *instance, mem api.Memory, stack []uint64) int32, params ...api.ValueType) {
		b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
			inst, _ := ctx.Value(instKey{}).(*instance)
			if inst == nil {
				stack[0] = api.EncodeI32(statusWrongPhase)
				return
			}
			stack[0] = api.EncodeI32(f(inst, mod.Memory(), stack))
		}), params, []api.ValueType{i32}).Export(name)
	}
	fn("describe_set", hostDescribeSet, i32, i32)
	fn("config_read", hostConfigRead, i32, i32)
	fn("config_get", hostConfigGet, i32, i32, i32, i32)
	fn("request_read", hostRequestRead, i32, i32)
	fn("real_read", hostRealRead, i32, i32, i32)
	fn("content_write", hostContentWrite, i32, i32)
	fn("set_mode", hostSetMode, i32)
	fn("set_size", hostSetSize, i64)
	fn("set_mtime", hostSetMtime, i64, i32)
	fn("error_set", hostErrorSet, i32, i32)
	fn("log", hostLog, i32, i32, i32)
	fn("host_abi_minor", func(*instance, api.Memory, []uint64) int32 { return abiMinor })
	return b
}

// arg returns stack[i] as the ABI's i32.
func arg(stack []uint64, i int) int32 { return api.DecodeI32(stack[i]) }

// read returns a view of the guest range, or marks the call out of bounds.
func (inst *instance) read(mem api.Memory, ptr, n int32) ([]byte, int32) {
	if n < 0 {
		return nil, statusBadArgument
	}
	if mem == nil {
		inst.oob = true
		return nil, statusOutOfBounds
	}
	b, ok := mem.Read(uint32(ptr), uint32(n))
	if !ok {
		inst.oob = true
		return nil, statusOutOfBounds
	}
	return b, statusOK
}

// copyOut writes min(cap, len(data)) bytes of data at ptr and returns len(data): the
// copy-style imports' convention, so a guest can retry with a larger buffer.
func (inst *instance) copyOut(mem api.Memory, ptr, capacity int32, data []byte) int32 {
	if capacity < 0 {
		return statusBadArgument
	}
	n := min(int(capacity), len(data))
	if mem == nil || !mem.Write(uint32(ptr), data[:n]) {
		inst.oob = true
		return statusOutOfBounds
	}
	return int32(len(data))
}

func hostDescribeSet(inst *instance, mem api.Memory, stack []uint64) int32 {
	if inst.ph != phaseDescribe {
		return statusWrongPhase
	}
	if arg(stack, 1) > maxDescribe {
		return statusLimit
	}
	b, st := inst.read(mem, arg(stack, 0), arg(stack, 1))
	if st != statusOK {
		return st
	}
	inst.describe = append(inst.describe[:0], b...)
	return statusOK
}

// configPhase reports whether the configuration is readable: in scrim_init, and from minor 1
// in scrim_describe too, so that claims can follow it.
func (inst *instance) configPhase() bool { return inst.ph == phaseInit || inst.ph == phaseDescribe }

func hostConfigRead(inst *instance, mem api.Memory, stack []uint64) int32 {
	if !inst.configPhase() {
		return statusWrongPhase
	}
	return inst.copyOut(mem, arg(stack, 0), arg(stack, 1), inst.p.config)
}

func hostConfigGet(inst *instance, mem api.Memory, stack []uint64) int32 {
	if !inst.configPhase() {
		return statusWrongPhase
	}
	key, st := inst.read(mem, arg(stack, 0), arg(stack, 1))
	if st != statusOK {
		return st
	}
	v, ok := inst.p.configVals[string(key)]
	if !ok {
		return statusNotFound
	}
	return inst.copyOut(mem, arg(stack, 2), arg(stack, 3), v)
}

func hostRequestRead(inst *instance, mem api.Memory, stack []uint64) int32 {
	if inst.ph != phaseOpen && inst.ph != phaseOpenReal {
		return statusWrongPhase
	}
	return inst.copyOut(mem, arg(stack, 0), arg(stack, 1), inst.req)
}

func hostRealRead(inst *instance, mem api.Memory, stack []uint64) int32 {
	if inst.ph != phaseOpenReal {
		return statusWrongPhase
	}
	ptr, capacity, off := arg(stack, 0), arg(stack, 1), arg(stack, 2)
	if capacity < 0 || off < 0 {
		return statusBadArgument
	}
	if int(off) >= len(inst.real) {
		return 0
	}
	data := inst.real[off:]
	data = data[:min(len(data), int(capacity))]
	if !mem.Write(uint32(ptr), data) {
		inst.oob = true
		return statusOutOfBounds
	}
	return int32(len(data))
}

func hostContentWrite(inst *instance, mem api.Memory, stack []uint64) int32 {
	if inst.ph != phaseOpen && inst.ph != phaseOpenReal {
		return statusWrongPhase
	}
	n := arg(stack, 1)
	if n >= 0 && len(inst.content)+int(n) > maxContent {
		inst.limit = true
		return statusLimit
	}
	b, st := inst.read(mem, arg(stack, 0), n)
	if st != statusOK {
		return st
	}
	inst.content = append(inst.content, b...)
	return statusOK
}

func hostSetMode(inst *instance, _ api.Memory, stack []uint64) int32 {
	if inst.ph != phaseOpen && inst.ph != phaseOpenReal {
		return statusWrongPhase
	}
	m := uint32(arg(stack, 0))
	if t := m & modeTypeMask; m&^(modeTypeMask|0o777) != 0 || t != 0 && t != modeTypeReg && t != modeTypeDir {
		return statusBadArgument
	}
	inst.mode = m
	return statusOK
}

func hostSetSize(inst *instance, _ api.Memory, stack []uint64) int32 {
	if inst.ph != phaseOpen && inst.ph != phaseOpenReal {
		return statusWrongPhase
	}
	n := int64(stack[0])
	if n < 0 {
		return statusBadArgument
	}
	inst.meta.size = n
	return statusOK
}

func hostSetMtime(inst *instance, _ api.Memory, stack []uint64) int32 {
	if inst.ph != phaseOpen && inst.ph != phaseOpenReal {
		return statusWrongPhase
	}
	sec, nsec := int64(stack[0]), arg(stack, 1)
	if nsec < 0 || nsec > 999_999_999 {
		return statusBadArgument
	}
	inst.meta.mtimeSec, inst.meta.mtimeNsec, inst.meta.hasMtime = sec, nsec, true
	return statusOK
}

func hostErrorSet(inst *instance, mem api.Memory, stack []uint64) int32 {
	b, st := inst.read(mem, arg(stack, 0), arg(stack, 1))
	if st != statusOK {
		return st
	}
	inst.errText = string(b[:min(len(b), maxText)])
	return statusOK
}

func hostLog(inst *instance, mem api.Memory, stack []uint64) int32 {
	b, st := inst.read(mem, arg(stack, 1), arg(stack, 2))
	if st != statusOK {
		return st
	}
	level := arg(stack, 0)
	if level < 0 || level > 4 {
		return statusBadArgument
	}
	// 0-4 are trace to error; rate-limited (plugin.go, logLimited).
	inst.p.logLimited(hclog.Trace+hclog.Level(level), "plugin log", b[:min(len(b), maxText)])
	return statusOK
}
