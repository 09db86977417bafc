package scenarios

import (
	"fmt"

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
