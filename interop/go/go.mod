module yamuxpeer

go 1.19

require github.com/hashicorp/yamux v0.0.0

// Debian's golang-github-hashicorp-yamux-dev (snapshot df201c7, 2019-09-23):
// builds fully offline with GOFLAGS=-mod=mod GOPROXY=off.
replace github.com/hashicorp/yamux => /usr/share/gocode/src/github.com/hashicorp/yamux
