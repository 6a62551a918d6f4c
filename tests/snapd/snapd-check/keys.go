// Keys as snapd sees them: the id and encoding snapd's GnuPG key manager (what `snap
// create-key`, `snap export-key` and `snap sign` use) gives a key in a GnuPG home, and the id
// snapd's decoder gives an exported public key.

package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/snapcore/snapd/asserts"
)

// gpgKey prints the key id and the `snap export-key` encoding of the GnuPG key NAME in the
// home $SNAP_GNUPG_HOME.
func gpgKey(name string) {
	if os.Getenv("GPG_TTY") == "" {
		os.Setenv("GPG_TTY", "/dev/null")
	}
	mgr := asserts.NewGPGKeypairManager()
	key, err := mgr.GetByName(name)
	if err != nil {
		fail("GnuPG key %q: %v", name, err)
	}
	encoded, err := mgr.Export(name)
	if err != nil {
		fail("exporting %q: %v", name, err)
	}
	fmt.Printf("%s\n%s\n", key.PublicKey().ID(), encoded)
}

// publicKey decodes FILE as `snap export-key` output (an account-key body) and prints its id.
func publicKey(path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	key, err := asserts.DecodePublicKey(bytes.TrimRight(data, "\n"))
	if err != nil {
		fail("%s: %v", path, err)
	}
	fmt.Println(key.ID())
}
