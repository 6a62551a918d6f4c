// Command snapd-check holds snapsmith's outputs against snapd's own code (snapd 2.57 as
// Debian packages it): it decodes and verifies assertions with snapd's asserts package,
// signs with fresh snapd keys, and prints what snapd's sysdb trusts. The Rust tests run it.
//
// Build (offline, GOPATH mode):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o snapd-check ./tests/snapd/snapd-check
//
// Usage:
//
//	snapd-check verify --trusted FILE [--trusted FILE]... FILE...
//	    adds every assertion in FILE... to a database rooted at the trusted assertions
//	    (snapd checks signatures, the chain and validity); prints "ok TYPE KEY" per assertion
//	snapd-check decode FILE...
//	    decodes each file as one assertion; prints "ok" or "error: …" per file (never fails)
//	snapd-check decode-many DIR
//	    decodes every file in DIR (name order) as one assertion; prints "NAME ok" or
//	    "NAME error: …" per file (never fails)
//	snapd-check gadget-layout FILE
//	    reads a gadget.yaml as snapd does (InfoFromGadgetYaml, Validate, LayoutVolumePartially
//	    with content unresolved) and prints JSON: {"error": …} or the volumes, by name, with
//	    structures sorted by offset
//	snapd-check sysdb-generic
//	    prints snapd's built-in trusted and generic assertions (Canonical's root and the
//	    generic models chain)
//	snapd-check sign-chain DIR
//	    makes a fresh root and brand RSA key with snapd's code and writes DIR/root.assert
//	    (trusted), DIR/brand.assert (brand account and key) and DIR/model.assert (a model the
//	    brand signed)
//	snapd-check gpg-key NAME
//	    prints the key id and the exported public key (as `snap export-key` prints it) that
//	    snapd's GnuPG key manager gives the key NAME in the GnuPG home $SNAP_GNUPG_HOME
//	snapd-check public-key FILE
//	    decodes FILE as an exported public key (an account-key body); prints its key id
//	snapd-check seed DIR LABEL --trusted FILE...
//	    loads system LABEL of the seed in DIR with snapd's seed loader (seed.Open,
//	    LoadAssertions with a database rooted at the trusted assertions, LoadMeta); prints
//	    JSON: the model, grade, its essential snaps and the run-mode snaps
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/snapcore/snapd/asserts"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "snapd-check: "+format+"\n", args...)
	os.Exit(1)
}

func decodeAll(path string) []asserts.Assertion {
	data, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	dec := asserts.NewDecoder(bytes.NewReader(data))
	var out []asserts.Assertion
	for {
		a, err := dec.Decode()
		if err == io.EOF {
			return out
		}
		if err != nil {
			fail("%s: %v", path, err)
		}
		out = append(out, a)
	}
}

// splitTrusted reads the assertions of every "--trusted FILE" in args; returns them and the
// other arguments.
func splitTrusted(args []string) (trusted []asserts.Assertion, rest []string) {
	for i := 0; i < len(args); i++ {
		if args[i] == "--trusted" && i+1 < len(args) {
			trusted = append(trusted, decodeAll(args[i+1])...)
			i++
			continue
		}
		rest = append(rest, args[i])
	}
	return trusted, rest
}

func verify(args []string) {
	trusted, files := splitTrusted(args)
	db, err := asserts.OpenDatabase(&asserts.DatabaseConfig{
		Backstore: asserts.NewMemoryBackstore(),
		Trusted:   trusted,
	})
	if err != nil {
		fail("opening the database: %v", err)
	}
	batch := asserts.NewBatch(nil)
	var all []asserts.Assertion
	for _, f := range files {
		for _, a := range decodeAll(f) {
			if err := batch.Add(a); err != nil {
				fail("%s: %v", f, err)
			}
			all = append(all, a)
		}
	}
	if err := batch.CommitTo(db, nil); err != nil {
		fail("%v", err)
	}
	for _, a := range all {
		fmt.Printf("ok %s %s\n", a.Type().Name, strings.Join(a.Ref().PrimaryKey, "/"))
	}
}

func decode(args []string) {
	for _, f := range args {
		data, err := os.ReadFile(f)
		if err != nil {
			fail("%v", err)
		}
		if _, err := asserts.Decode(data); err != nil {
			fmt.Printf("error: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		} else {
			fmt.Println("ok")
		}
	}
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: snapd-check verify|decode|decode-many|gadget-layout|sysdb-generic|sign-chain|gpg-key|public-key|seed ...")
	}
	switch os.Args[1] {
	case "verify":
		verify(os.Args[2:])
	case "decode":
		decode(os.Args[2:])
	case "decode-many":
		if len(os.Args) != 3 {
			fail("usage: snapd-check decode-many DIR")
		}
		decodeMany(os.Args[2])
	case "gadget-layout":
		if len(os.Args) != 3 {
			fail("usage: snapd-check gadget-layout FILE")
		}
		gadgetLayout(os.Args[2])
	case "sysdb-generic":
		sysdbGeneric()
	case "sign-chain":
		if len(os.Args) != 3 {
			fail("usage: snapd-check sign-chain DIR")
		}
		signChain(os.Args[2])
	case "seed":
		seedCheck(os.Args[2:])
	case "gpg-key", "public-key":
		if len(os.Args) != 3 {
			fail("usage: snapd-check %s ARG", os.Args[1])
		}
		if os.Args[1] == "gpg-key" {
			gpgKey(os.Args[2])
		} else {
			publicKey(os.Args[2])
		}
	default:
		fail("unknown command %q", os.Args[1])
	}
}
