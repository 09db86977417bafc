module klpsim

go 1.26.0

require (
	github.com/creack/pty v1.1.24
	github.com/google/btree v1.1.3
	github.com/rogpeppe/go-internal v1.16.0
	golang.org/x/arch v0.32.0
	golang.org/x/term v0.38.0
)

require (
	github.com/mattn/go-colorable v0.1.14 // indirect
	github.com/mattn/go-isatty v0.0.20 // indirect
	github.com/rs/zerolog v1.35.1 // indirect
	golang.org/x/sys v0.39.0 // indirect
	golang.org/x/tools v0.26.0 // indirect
)
