// Package docs holds the documentation that programs show: the labs'
// handouts (labs.md), which klpsim serve shows beside a lab's file.
package docs

import _ "embed"

// Labs is docs/labs.md.
//
//go:embed labs.md
var Labs string
