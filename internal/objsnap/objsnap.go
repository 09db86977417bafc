// Package objsnap saves the contents of a graph of Go objects and writes
// them back later, in place.
//
// It is how the debugger takes a checkpoint of a running machine without
// the machine being copyable: the kernel model holds closures (sysfs
// files, timers, host hooks) that point at its own objects, and a copy of
// the graph would leave them pointing at the original. Restoring in place
// keeps every object's identity, so every pointer to it — from a closure
// too — sees the restored contents.
//
// Take walks everything reachable from the roots through pointers,
// slices, maps, interfaces and struct fields and copies each object's
// memory: a struct or array behind a pointer as a whole, a slice's backing
// array up to its capacity, a map's entries. Restore writes the copies
// back. Objects created after Take become unreachable again (the fields
// that pointed at them get their old values); objects that were dropped
// after Take are still held by the snapshot and come back.
//
// What is not seen, by design:
//   - the inside of closures: a func value is restored as the value it was
//     (the same closure), but variables it captured are not saved. Machine
//     state must not live only in captured variables.
//   - channels, unsafe pointers and goroutine or coroutine stacks.
//   - types of the packages Options.Foreign lists (locks, files, atomics a
//     controller shares) and types for which Options.Skip says so: their
//     objects are left as they are.
//
// A type that knows how to save itself (emu's memory, with copy-on-write
// pages) implements Saver; its object is not walked.
package objsnap

import (
	"reflect"
	"strings"
	"unsafe"
)

// Saver is implemented by objects that save and restore themselves: Take
// calls SaveState and keeps its result; Restore hands it back to
// RestoreState. Any pointers the saved state holds are the Saver's own
// business (Take does not walk into the object).
type Saver interface {
	SaveState() any
	RestoreState(state any)
}

// Options says which objects to leave alone.
type Options struct {
	// Skip reports whether objects of type t are outside the snapshot.
	Skip func(t reflect.Type) bool
	// Foreign lists package paths (and their sub-packages) whose types are
	// left alone. DefaultForeign is used when it is nil.
	Foreign []string
}

// DefaultForeign are packages whose objects belong to the host, not to a
// machine: locks, atomics shared with another goroutine, files, loggers.
var DefaultForeign = []string{"sync", "internal/sync", "os", "io", "bufio", "net", "context", "runtime", "reflect", "time", "github.com/rs/zerolog"}

// Snapshot is the saved contents of an object graph.
type Snapshot struct {
	objs   []savedObj
	slices []savedSlice
	maps   []savedMap
	savers []savedSaver
	bytes  uintptr
}

type savedObj struct {
	ptr reflect.Value // *T, settable through Elem
	val reflect.Value // a T
}

type savedSlice struct {
	elem reflect.Type
	data unsafe.Pointer
	val  reflect.Value // []T, len == cap of the original
}

type savedMap struct {
	m          reflect.Value // the map, settable
	keys, vals []reflect.Value
}

type savedSaver struct {
	s     Saver
	state any
}

type objKey struct {
	p unsafe.Pointer
	t reflect.Type
}

type sliceKey struct {
	p unsafe.Pointer
	t reflect.Type
	n int
}

type taker struct {
	opts   Options
	snap   *Snapshot
	seen   map[objKey]bool
	slices map[sliceKey]bool
	maps   map[unsafe.Pointer]bool
	skip   map[reflect.Type]bool
	ptrs   map[reflect.Type]bool
}

var saverType = reflect.TypeFor[Saver]()

// Take saves everything reachable from roots, which are pointers.
func Take(opts Options, roots ...any) *Snapshot {
	if opts.Foreign == nil {
		opts.Foreign = DefaultForeign
	}
	tk := &taker{opts: opts, snap: &Snapshot{}, seen: map[objKey]bool{}, slices: map[sliceKey]bool{}, maps: map[unsafe.Pointer]bool{}, skip: map[reflect.Type]bool{}, ptrs: map[reflect.Type]bool{}}
	for _, r := range roots {
		tk.walk(reflect.ValueOf(r))
	}
	return tk.snap
}

// Restore writes the saved contents back into the same objects. A
// snapshot can be restored any number of times.
func (s *Snapshot) Restore() {
	for _, o := range s.objs {
		o.ptr.Elem().Set(o.val)
	}
	for _, sl := range s.slices {
		reflect.Copy(reflect.SliceAt(sl.elem, sl.data, sl.val.Len()), sl.val)
	}
	for _, m := range s.maps {
		m.m.Clear()
		for i := range m.keys {
			m.m.SetMapIndex(m.keys[i], m.vals[i])
		}
	}
	for _, sv := range s.savers {
		sv.s.RestoreState(sv.state)
	}
}

// Objects is how many objects, slices and maps the snapshot holds.
func (s *Snapshot) Objects() int { return len(s.objs) + len(s.slices) + len(s.maps) + len(s.savers) }

// Bytes is the memory the saved copies take (maps and Savers' own state
// not counted).
func (s *Snapshot) Bytes() uintptr { return s.bytes }

func (tk *taker) skipType(t reflect.Type) bool {
	if v, ok := tk.skip[t]; ok {
		return v
	}
	v := false
	if pkg := t.PkgPath(); pkg != "" {
		for _, f := range tk.opts.Foreign {
			if pkg == f || strings.HasPrefix(pkg, f+"/") {
				v = true
				break
			}
		}
	}
	if !v && tk.opts.Skip != nil {
		v = tk.opts.Skip(t)
	}
	tk.skip[t] = v
	return v
}

// walk finds the objects v leads to. v's own storage is saved by whoever
// holds it.
func (tk *taker) walk(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			tk.object(v.Type().Elem(), v.UnsafePointer())
		}
	case reflect.Interface:
		if !v.IsNil() {
			tk.walk(v.Elem())
		}
	case reflect.Struct:
		if tk.skipType(v.Type()) {
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if tk.hasPointers(v.Type().Field(i).Type) {
				tk.walk(v.Field(i))
			}
		}
	case reflect.Array:
		if tk.hasPointers(v.Type().Elem()) {
			for i := 0; i < v.Len(); i++ {
				tk.walk(v.Index(i))
			}
		}
	case reflect.Slice:
		tk.slice(v)
	case reflect.Map:
		tk.mapValue(v)
	}
}

// object saves the T at p and walks it.
func (tk *taker) object(t reflect.Type, p unsafe.Pointer) {
	key := objKey{p, t}
	if tk.seen[key] || tk.skipType(t) {
		return
	}
	tk.seen[key] = true
	ptr := reflect.NewAt(t, p)
	if ptr.Type().Implements(saverType) {
		s := ptr.Interface().(Saver)
		tk.snap.savers = append(tk.snap.savers, savedSaver{s, s.SaveState()})
		return
	}
	val := reflect.New(t).Elem()
	val.Set(ptr.Elem())
	tk.snap.objs = append(tk.snap.objs, savedObj{ptr, val})
	tk.snap.bytes += t.Size()
	tk.walk(ptr.Elem())
}

// slice saves v's backing array up to its capacity: an append in place
// after Take writes there.
func (tk *taker) slice(v reflect.Value) {
	n := v.Cap()
	if n == 0 {
		return
	}
	elem := v.Type().Elem()
	p := v.UnsafePointer()
	key := sliceKey{p, elem, n}
	if tk.slices[key] || tk.skipType(elem) {
		return
	}
	tk.slices[key] = true
	live := reflect.SliceAt(elem, p, n)
	saved := reflect.MakeSlice(reflect.SliceOf(elem), n, n)
	reflect.Copy(saved, live)
	tk.snap.slices = append(tk.snap.slices, savedSlice{elem, p, saved})
	tk.snap.bytes += uintptr(n) * elem.Size()
	if tk.hasPointers(elem) {
		for i := 0; i < v.Len(); i++ {
			tk.walk(live.Index(i))
		}
	}
}

// mapValue saves m's entries and walks them.
func (tk *taker) mapValue(v reflect.Value) {
	if v.IsNil() {
		return
	}
	p := v.UnsafePointer()
	if tk.maps[p] || tk.skipType(v.Type().Key()) || tk.skipType(v.Type().Elem()) {
		return
	}
	tk.maps[p] = true
	// A map value is one pointer: a fresh Value over a copy of it is the
	// same map, without the read-only mark of an unexported field.
	mp := new(unsafe.Pointer)
	*mp = p
	m := reflect.NewAt(v.Type(), unsafe.Pointer(mp)).Elem()
	sm := savedMap{m: m}
	it := m.MapRange()
	for it.Next() {
		k, val := it.Key(), it.Value()
		sm.keys = append(sm.keys, k)
		sm.vals = append(sm.vals, val)
	}
	tk.snap.maps = append(tk.snap.maps, sm)
	kp, vp := tk.hasPointers(v.Type().Key()), tk.hasPointers(v.Type().Elem())
	for i := range sm.keys {
		if kp {
			tk.walk(sm.keys[i])
		}
		if vp {
			tk.walk(sm.vals[i])
		}
	}
}

// hasPointers (pointerful, cached) reports whether a value of type t can lead to other objects
// the walk must see (funcs, chans and unsafe pointers are not followed).
func (tk *taker) hasPointers(t reflect.Type) bool {
	if v, ok := tk.ptrs[t]; ok {
		return v
	}
	v := pointerful(t)
	tk.ptrs[t] = v
	return v
}

func pointerful(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map:
		return true
	case reflect.Array:
		return t.Len() > 0 && pointerful(t.Elem())
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if pointerful(t.Field(i).Type) {
				return true
			}
		}
	}
	return false
}
