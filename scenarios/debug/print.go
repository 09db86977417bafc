package debug

import (
	"fmt"
	"strings"

	"klpsim/livepatch"
)

// print EXPRESSION: guest values by name. The expression language:
//
//	$REG                          a register of the selected task ($rip, $rsp, $eflags, ...)
//	task PID                      the task's fields
//	patch NAME | object NAME      a livepatch's struct klp_patch / a struct klp_object
//	func OLD_NAME                 every struct klp_func replacing OLD_NAME
//	func_stack SYMBOL             the func_stack of a patched function
//	*(struct klp_patch *)ADDRESS  a guest struct read with livepatch's layout
//	                              (also klp_object, klp_func)
//	SYMBOL | ADDRESS              the 8-byte word at a data symbol

func init() {
	registerInspector(&Inspector{
		Name: "print", Aliases: []string{"p"},
		Usage: "print $REG | task PID | patch NAME | object NAME | func NAME | func_stack SYM | *(struct klp_patch *)ADDR | SYMBOL",
		Help:  "guest values and structures by name",
		Run:   printExpr,
	})
}

func printExpr(t *Target, args []string) (Answer, error) {
	const usage = "print $REG | task PID | patch NAME | object NAME | func NAME | func_stack SYM | *(struct klp_patch *)ADDR | SYMBOL"
	expr := strings.TrimSpace(strings.Join(args, " "))
	if expr == "" {
		return Answer{}, &UsageError{Usage: usage}
	}
	kw, rest, _ := strings.Cut(expr, " ")
	rest = strings.TrimSpace(rest)
	var lines []string
	data := map[string]any{}
	add := func(k string, v any) {
		lines = append(lines, fmt.Sprintf("  %s = %v", k, v))
		data[k] = v
	}
	switch {
	case strings.HasPrefix(expr, "$"):
		if t.Task == nil {
			return Answer{}, fmt.Errorf("no task selected")
		}
		r, _ := t.K.TaskRegs(t.Task)
		v, ok := regValue(r, expr[1:])
		if !ok {
			return Answer{}, fmt.Errorf("no register %q", expr)
		}
		return Answer{Text: fmt.Sprintf("%s = %#x <%s>\n", expr, v, gdbSym(t, v)), Data: v}, nil
	case kw == "task":
		task, err := findTask(t, rest)
		if err != nil {
			return Answer{}, err
		}
		ti := taskInfo(t, task)
		add("pid", task.PID)
		add("comm", fmt.Sprintf("%q", task.Comm))
		add("cpu", task.CPU())
		add("__state", fmt.Sprintf("%#x (%s %s)", task.State, ti.State, ti.StateName))
		add("flags", fmt.Sprintf("%#x", task.Flags))
		add("thread_info.flags", fmt.Sprintf("%#x", task.TIF))
		add("patch_state", fmt.Sprintf("%d (%s)", task.PatchState, ti.PatchName))
		add("stack", fmt.Sprintf("%#x", task.StackBase()))
		add("on_cpu", task.Running())
		return answer("task "+taskName(task), lines, data), nil
	case kw == "patch" || kw == "object" || kw == "func":
		if err := needLP(t); err != nil {
			return Answer{}, err
		}
		for _, p := range t.LP.Patches() {
			if kw == "patch" && p.Name == rest {
				return printGuest(t, "klp_patch", p.Addr)
			}
			for _, o := range p.Objs {
				if kw == "object" && o.DisplayName() == rest && o.Addr != 0 {
					return printGuest(t, "klp_object", o.Addr)
				}
				for _, f := range o.Funcs {
					if kw == "func" && f.OldName == rest {
						fi := funcInfo(t, f)
						add(p.Name+"/"+o.DisplayName(), fmt.Sprintf("{old_name = %q, new_func = %#x <%s>, old_sympos = %d, old_func = %#x, patched = %d, transition = %d, nop = %d}",
							fi.OldName, fi.NewFunc, fi.NewName, fi.OldSympos, fi.OldFunc, yn(fi.Patched), yn(fi.Transition), yn(fi.Nop)))
					}
				}
			}
		}
		if len(lines) > 0 {
			return answer("struct klp_func "+rest, lines, data), nil
		}
		return Answer{}, fmt.Errorf("no %s %q in any livepatch", kw, rest)
	case kw == "func_stack":
		if err := needLP(t); err != nil {
			return Answer{}, err
		}
		a, err := ParseAddress(t, rest)
		if err != nil {
			return Answer{}, err
		}
		st := t.LP.FuncStack(a)
		if st == nil {
			return Answer{}, fmt.Errorf("%s: no patch changes the function at %#x", rest, a)
		}
		for i, f := range st {
			add(fmt.Sprintf("[%d]", i), funcLabel(t, f))
		}
		return answer("func_stack of "+t.K.Syms.Name(a)+" (top first)", lines, data), nil
	case strings.HasPrefix(expr, "*(struct "):
		typ, addrS, ok := strings.Cut(strings.TrimPrefix(expr, "*(struct "), "*)")
		if !ok {
			return Answer{}, fmt.Errorf("%s: want *(struct klp_patch *)ADDRESS", expr)
		}
		a, err := ParseAddress(t, addrS)
		if err != nil {
			return Answer{}, err
		}
		return printGuest(t, strings.TrimSpace(typ), a)
	}
	a, err := ParseAddress(t, expr)
	if err != nil {
		return Answer{}, err
	}
	v, err := t.K.Memory().ReadU64(a)
	if err != nil {
		return Answer{}, fmt.Errorf("Cannot access memory at address %#x", a)
	}
	return Answer{Text: fmt.Sprintf("%s = %#x\n", expr, v), Data: v}, nil
}

func answer(title string, lines []string, data map[string]any) Answer {
	return Answer{Text: title + " {\n" + strings.Join(lines, "\n") + "\n}\n", Data: data}
}

// guestLayouts are the guest structures print reads: each field's name,
// offset and size (livepatch/types.go).
var guestLayouts = map[string][]struct {
	name      string
	off, size uint64
	str       bool // a const char *
}{
	"klp_patch":  {{"mod", livepatch.PatchMod, 8, false}, {"objs", livepatch.PatchObjs, 8, false}, {"states", livepatch.PatchStates, 8, false}, {"replace", livepatch.PatchReplace, 1, false}},
	"klp_object": {{"name", livepatch.ObjName, 8, true}, {"funcs", livepatch.ObjFuncs, 8, false}, {"callbacks.pre_patch", livepatch.ObjPrePatch, 8, false}, {"callbacks.post_patch", livepatch.ObjPostPatch, 8, false}, {"callbacks.pre_unpatch", livepatch.ObjPreUnpatch, 8, false}, {"callbacks.post_unpatch", livepatch.ObjPostUnpatch, 8, false}, {"mod", livepatch.ObjMod, 8, false}, {"patched", livepatch.ObjPatched, 1, false}},
	"klp_func":   {{"old_name", livepatch.FuncOldName, 8, true}, {"new_func", livepatch.FuncNewFunc, 8, false}, {"old_sympos", livepatch.FuncOldSympos, 8, false}},
}

// printGuest reads a struct from guest memory with its layout.
func printGuest(t *Target, typ string, addr uint64) (Answer, error) {
	layout, ok := guestLayouts[typ]
	if !ok {
		return Answer{}, fmt.Errorf("no struct %s: print knows klp_patch, klp_object, klp_func", typ)
	}
	mem := t.K.Memory()
	var lines []string
	data := map[string]any{}
	for _, f := range layout {
		var buf [8]byte
		if err := mem.Read(addr+f.off, buf[:f.size]); err != nil {
			return Answer{}, fmt.Errorf("Cannot access memory at address %#x", addr+f.off)
		}
		var v uint64
		for j := int(f.size) - 1; j >= 0; j-- {
			v = v<<8 | uint64(buf[j])
		}
		data[f.name] = v
		s := fmt.Sprintf("%#x", v)
		if f.str && v != 0 {
			s += fmt.Sprintf(" %q", readCString(t, v))
		} else if f.size == 8 && v != 0 {
			if _, _, ok := t.K.Syms.Lookup(v); ok {
				s += " <" + gdbSym(t, v) + ">"
			}
		}
		lines = append(lines, fmt.Sprintf("  %s = %s", f.name, s))
	}
	return answer(fmt.Sprintf("(struct %s *) %#x", typ, addr), lines, data), nil
}

func readCString(t *Target, a uint64) string {
	var s []byte
	for len(s) < 256 {
		var c [1]byte
		if t.K.Memory().Read(a+uint64(len(s)), c[:]) != nil || c[0] == 0 {
			break
		}
		s = append(s, c[0])
	}
	return string(s)
}
