package kernel

import "fmt"

// warnUnsizedFuncs warns, at module load, about each function symbol of
// the module that has no size (no `.size` directive in its assembly).
// kallsyms cannot place an address inside such a function, so the
// reliable unwinder rejects every stack with a return address in it
// ("return address outside kernel text") and livepatch sees the task's
// stack as unreliable. Linux has no such case — its compilers always size
// functions — so the message is klpsim's own, in the style of the
// loader's other warnings ("NAME: ..."), and logged where the mistake is
// made instead of at the first stalled transition much later.
func warnUnsizedFuncs(log func(string), module string, img *image) {
	for _, s := range img.syms {
		if s.fn && s.size == 0 {
			log(fmt.Sprintf("\x014%s: symbol '%s' has no size (.size missing); stack traces through it are unreliable\n", module, s.name))
		}
	}
}
