// Package include is klpsim's kernel header tree (include/linux/*.h): the
// guest ABI as C, for modules built with gcc (kernel/kbuild). The struct
// layouts are checked against kernel/abi.go and livepatch/types.go by
// tests in those packages, so the two sides cannot drift apart.
package include

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"sort"
)

// FS holds linux/*.h.
//
//go:embed linux
var FS embed.FS

// Hash is a digest of every header's name and contents: part of the key
// of every cached object, so that a header change rebuilds modules.
func Hash() string {
	h := sha256.New()
	var names []string
	_ = fs.WalkDir(FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return nil
	})
	sort.Strings(names)
	for _, n := range names {
		data, _ := FS.ReadFile(n)
		h.Write([]byte(n + "\x00"))
		h.Write(data)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}
