package scenarios

import "embed"

// Files are the teaching scenarios and the upstream selftests with the
// files they include, for a program that shows them without the source
// tree (klpsim serve's gallery).
//
//go:embed teach/*.scn teach/*.inc selftests/*.scn
var Files embed.FS
