package objsnap

import (
	"reflect"
	"sync/atomic"
	"testing"
)

type node struct {
	val   int
	name  string
	next  *node
	kids  []*node
	attrs map[string]*node
	any   any
	arr   [3]*node
	fn    func() int
	buf   []byte
	inner inner
}

type inner struct {
	count int
	list  []int
}

type saver struct {
	state int
	saves int
}

func (s *saver) SaveState() any      { s.saves++; return s.state }
func (s *saver) RestoreState(st any) { s.state = st.(int) }

type holder struct {
	s      *saver
	flag   *atomic.Bool
	skip   *skipped
	shared []int
	view   []int // a window on shared's backing array
}

type skipped struct{ n int }

func TestRestoreWritesBackInPlace(t *testing.T) {
	leaf := &node{val: 3, name: "leaf"}
	root := &node{val: 1, name: "root", buf: []byte("abc"), inner: inner{count: 7, list: make([]int, 2, 4)}}
	root.next = leaf
	root.kids = []*node{leaf}
	root.attrs = map[string]*node{"l": leaf}
	root.any = &inner{count: 9}
	root.arr[1] = leaf
	leaf.next = root // a cycle
	captured := 0
	root.fn = func() int { return captured }

	snap := Take(Options{}, root)

	// Mutate everything the snapshot should bring back.
	leafPtr, fn0 := leaf, reflect.ValueOf(root.fn).Pointer()
	root.val, root.name = 100, "changed"
	leaf.val = 300
	extra := &node{val: 42}
	root.next = extra
	root.kids = append(root.kids, extra)
	root.kids[0] = extra
	root.attrs["x"] = extra
	delete(root.attrs, "l")
	root.any.(*inner).count = 10
	root.arr[1], root.arr[2] = nil, extra
	root.fn = func() int { return -1 }
	root.buf[0] = 'X'
	root.inner.count = 8
	root.inner.list = append(root.inner.list, 5) // in place: cap 4
	root.inner.list[0] = 6

	snap.Restore()

	if root.val != 1 || root.name != "root" || leaf.val != 3 {
		t.Errorf("fields: root %d %q leaf %d", root.val, root.name, leaf.val)
	}
	if root.next != leafPtr || leaf.next != root {
		t.Errorf("pointers not restored: %p %p", root.next, leaf.next)
	}
	if len(root.kids) != 1 || root.kids[0] != leafPtr {
		t.Errorf("kids = %v", root.kids)
	}
	if len(root.attrs) != 1 || root.attrs["l"] != leafPtr {
		t.Errorf("attrs = %v", root.attrs)
	}
	if root.any.(*inner).count != 9 {
		t.Errorf("object behind an interface: %d", root.any.(*inner).count)
	}
	if root.arr[1] != leafPtr || root.arr[2] != nil {
		t.Errorf("arr = %v", root.arr)
	}
	if reflect.ValueOf(root.fn).Pointer() != fn0 || root.fn() != 0 {
		t.Errorf("func value not restored")
	}
	if string(root.buf) != "abc" {
		t.Errorf("buf = %q", root.buf)
	}
	if root.inner.count != 7 || len(root.inner.list) != 2 || root.inner.list[0] != 0 || root.inner.list[:3][2] != 0 {
		t.Errorf("inner = %+v (beyond len: %v)", root.inner, root.inner.list[:4])
	}

	// Again: a snapshot restores any number of times.
	root.val = 5
	snap.Restore()
	if root.val != 1 {
		t.Errorf("second restore: val %d", root.val)
	}
}

func TestSaversForeignAndSkip(t *testing.T) {
	h := &holder{s: &saver{state: 1}, flag: new(atomic.Bool), skip: &skipped{n: 1}}
	h.shared = []int{1, 2, 3, 4}
	h.view = h.shared[1:3]
	snap := Take(Options{Skip: func(t reflect.Type) bool { return t == reflect.TypeFor[skipped]() }}, h)
	if h.s.saves != 1 {
		t.Fatalf("SaveState called %d times", h.s.saves)
	}
	h.s.state = 2
	h.flag.Store(true)
	h.skip.n = 2
	h.shared[2] = 30
	h.view[0] = 20
	snap.Restore()
	if h.s.state != 1 {
		t.Errorf("Saver not restored: %d", h.s.state)
	}
	if !h.flag.Load() {
		t.Errorf("an atomic of package sync/atomic was restored")
	}
	if h.skip.n != 2 {
		t.Errorf("a skipped type was restored")
	}
	if h.shared[1] != 2 || h.shared[2] != 3 || h.view[0] != 2 {
		t.Errorf("overlapping slices: %v %v", h.shared, h.view)
	}
}

func TestMapOfStructsWithSlices(t *testing.T) {
	type rec struct {
		xs []int
		p  *int
	}
	x := 1
	m := map[int]rec{1: {xs: []int{1, 2}, p: &x}}
	root := &struct{ m map[int]rec }{m}
	snap := Take(Options{}, root)
	m[1].xs[0] = 10
	x = 2
	m[2] = rec{}
	snap.Restore()
	if len(m) != 1 || m[1].xs[0] != 1 || x != 1 {
		t.Errorf("m = %v x = %d", m, x)
	}
	if root.m == nil || reflect.ValueOf(root.m).Pointer() != reflect.ValueOf(m).Pointer() {
		t.Errorf("the map lost its identity")
	}
}

func TestObjectsAndBytes(t *testing.T) {
	root := &node{buf: make([]byte, 100)}
	snap := Take(Options{}, root)
	if snap.Objects() != 2 { // the node and its buffer
		t.Errorf("Objects = %d", snap.Objects())
	}
	want := reflect.TypeFor[node]().Size() + 100
	if snap.Bytes() != want {
		t.Errorf("Bytes = %d, want %d", snap.Bytes(), want)
	}
}
