package scenarios

import (
	"errors"

	"klpsim/kernel"
	"klpsim/livepatch/testmods"
)

// testmodsCatalog is the catalog of livepatch/testmods, for a kernel
// version ("": today's).
type testmodsCatalog struct{ kernel string }

// ForKernel is the catalog of kernel version's test modules.
func (testmodsCatalog) ForKernel(version string) Catalog { return testmodsCatalog{version} }

func (c testmodsCatalog) Names() []string { return testmods.NamesFor(c.kernel) }

func (c testmodsCatalog) IsLivepatch(name string) (lp, ok bool) {
	spec, _, err := testmods.SourceFor(c.kernel, name)
	if err != nil {
		return false, false
	}
	return spec.Livepatch, true
}

func (c testmodsCatalog) Spec(name string) (kernel.ModuleSpec, error) {
	return testmods.SpecFor(c.kernel, name)
}

func (testmodsCatalog) Program(name string) (kernel.UserProgram, bool, error) {
	for _, n := range testmods.ProgramNames() {
		if n == name {
			p, err := testmods.Program(name)
			return p, err == nil, err
		}
	}
	return kernel.UserProgram{}, false, errors.New("no such program")
}

// CCatalog is the built-in catalog with every module that has a C version
// (livepatch/testmods/c) built from it by gcc instead of assembled; the
// rest, and the user programs, are Builtin's.
var CCatalog Catalog = cCatalog{}

type cCatalog struct{ testmodsCatalog }

func (c cCatalog) Spec(name string) (kernel.ModuleSpec, error) {
	for _, n := range testmods.CNames() {
		if n == name {
			return testmods.CSpec(name)
		}
	}
	return c.testmodsCatalog.Spec(name)
}
