package scenarios

import (
	"fmt"
	"strconv"
	"strings"

	"klpsim/livepatch"
)

// Kernel versions in scenarios: `machine kernel=6.12|5.1|states-poc` (and
// --kernel) choose the livepatch core's behaviours (livepatch/version.go),
// the test modules the catalog offers (a kernel's own versions of them)
// and the selftest harness of that kernel's functions.sh (harness51.go).

// KernelCatalog is a Catalog that differs by kernel version: ForKernel
// is the catalog a machine running that version sees.
type KernelCatalog interface {
	Catalog
	ForKernel(version string) Catalog
}

// catalogFor is cat as a machine of the given kernel version sees it.
func catalogFor(cat Catalog, version string) Catalog {
	if kc, ok := cat.(KernelCatalog); ok {
		return kc.ForKernel(version)
	}
	return cat
}

// machineKernel checks kernel=VAL and switches the parser to that
// kernel's catalog.
func (p *parser) machineKernel(val string) error {
	v, err := livepatch.LookupVersion(val)
	if err != nil {
		return fmt.Errorf("expected %s", livepatch.VersionList())
	}
	p.s.Machine.Kernel = v.Name
	if p.cat != nil {
		p.cat = catalogFor(p.cat, v.Name)
	}
	return nil
}

// kernelHasStates refuses a state declaration on a kernel whose struct
// klp_patch has no states array (before 5.5).
func (p *parser) kernelHasStates() error {
	v, err := livepatch.LookupVersion(p.s.Machine.Kernel)
	if err != nil || v.StatesAPI {
		return nil
	}
	return fmt.Errorf("kernel %s has no klp_state (struct klp_patch has no states before 5.5)", v.Name)
}

// kernelVersion is the version the machine line names (the default
// without one).
func (p *parser) kernelVersion() *livepatch.Version {
	v, err := livepatch.LookupVersion(p.s.Machine.Kernel)
	if err != nil {
		return livepatch.V612
	}
	return v
}

// kernelHasObjectCallbacks refuses per-object callbacks on the states
// POC, which removed them.
func (p *parser) kernelHasObjectCallbacks() error {
	if v := p.kernelVersion(); v.StateCallbacks {
		return fmt.Errorf("kernel %s has no per-object callbacks (POC 6/7 removed them): expected a state's setup=, enable=, disable= or release=", v.Name)
	}
	return nil
}

// stateCallbackNames are struct klp_state_callbacks' functions, in the
// order of StateDecl.Callbacks.
var stateCallbackNames = [5]string{"setup", "enable", "disable", "release", "shadow_dtor"}

// statePOC parses a states POC state line:
//
//	state ID [block_disable] [shadow] [setup=SYM] [enable=SYM] [disable=SYM] [release=SYM] [shadow_dtor=SYM]
//
// The POC has no per-state version (POC 7/7 replaced it with
// block_disable): a number after the ID is refused.
func (p *parser) statePOC(m *ModuleDecl, pos Pos, ws []Word, strs []string) {
	const usage = "expected state ID [block_disable] [shadow] [setup=SYM] [enable=SYM] [disable=SYM] [release=SYM] [shadow_dtor=SYM]"
	if len(strs) == 0 {
		p.errorf(pos, "state: %s", usage)
		return
	}
	id, err := strconv.ParseUint(strs[0], 0, 64)
	if err != nil || id == 0 {
		p.errorf(ws[0].Pos, "state: expected an ID above 0, got %q", strs[0])
		return
	}
	s := StateDecl{Pos: pos, ID: id}
opts:
	for i, str := range strs[1:] {
		w := ws[i+1]
		switch key, val, kv := keyval(str); {
		case str == "block_disable":
			s.BlockDisable = true
		case str == "shadow":
			s.Shadow = true
		case kv:
			for j, n := range stateCallbackNames {
				if key == n {
					s.Callbacks[j], s.cbPos[j] = val, w.Pos
					continue opts
				}
			}
			p.errorf(w.Pos, "state: unknown option %q: %s", str, usage)
		default:
			if _, err := strconv.ParseUint(str, 0, 32); err == nil && i == 0 {
				p.errorf(w.Pos, "state: kernel states-poc has no per-state version (POC 7/7 replaced it with block_disable): %s", usage)
				continue
			}
			p.errorf(w.Pos, "state: unknown option %q: %s", str, usage)
		}
	}
	m.Patch.States = append(m.Patch.States, s)
}

// generateStatesPOC is the states array in the POC's struct klp_state
// layout (livepatch/state_poc.go).
func generateStatesPOC(states []StateDecl) string {
	var b strings.Builder
	b.WriteString("__klp_states:\n")
	for _, s := range states {
		cbs := make([]string, 5)
		for j, cb := range s.Callbacks {
			cbs[j] = "0"
			if cb != "" {
				cbs[j] = cb
			}
		}
		fmt.Fprintf(&b, "\t.quad %d\n\t.quad %s\n\t.byte 0\n\t.zero 7\n\t.byte %d, %d\n\t.zero 6\n\t.quad 0\n",
			s.ID, strings.Join(cbs, ", "), b2i(s.BlockDisable), b2i(s.Shadow))
	}
	fmt.Fprintf(&b, "\t.zero %d\n", livepatch.POCStateSize)
	return b.String()
}
