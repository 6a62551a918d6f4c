// Signing with snapd's own code: a fresh root and brand, and a model the brand signs, for the
// other direction of the proof (snapsmith verifies what snapd signed).

package main

import (
	"os"
	"path/filepath"
	"time"

	"github.com/snapcore/snapd/asserts"
	"github.com/snapcore/snapd/asserts/assertstest"
	"github.com/snapcore/snapd/asserts/sysdb"
)

func write(path string, as ...asserts.Assertion) {
	var out []byte
	for i, a := range as {
		if i > 0 {
			out = append(out, '\n')
		}
		out = append(out, asserts.Encode(a)...)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		fail("%v", err)
	}
}

func signChain(dir string) {
	ts := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	rootKey, _ := assertstest.GenerateKey(4096)
	root := assertstest.NewSigningDB("snapd-root", rootKey)
	rootAcct := assertstest.NewAccount(root, "snapd-root", map[string]interface{}{
		"account-id": "snapd-root", "validation": "verified", "timestamp": ts,
	}, "")
	rootAcctKey := assertstest.NewAccountKey(root, rootAcct, map[string]interface{}{
		"name": "root", "since": ts,
	}, rootKey.PublicKey(), "")
	brandKey, _ := assertstest.GenerateKey(4096)
	brandAcct := assertstest.NewAccount(root, "snapd-brand", map[string]interface{}{
		"account-id": "snapd-brand", "validation": "verified", "timestamp": ts,
	}, "")
	brandAcctKey := assertstest.NewAccountKey(root, brandAcct, map[string]interface{}{
		"name": "models", "since": ts,
	}, brandKey.PublicKey(), "")
	brand := assertstest.NewSigningDB("snapd-brand", brandKey)
	model, err := brand.Sign(asserts.ModelType, map[string]interface{}{
		"series":       "16",
		"brand-id":     "snapd-brand",
		"model":        "snapd-signed",
		"architecture": "amd64",
		"base":         "core22",
		"grade":        "signed",
		"timestamp":    ts,
		"snaps": []interface{}{
			map[string]interface{}{"name": "pc", "id": "UqFziVZDHLSyO3TqSWgNBoAdHbLI4dAH", "type": "gadget", "default-channel": "22/stable"},
			map[string]interface{}{"name": "pc-kernel", "id": "pYVQrBcKmBa0mZ4CCN7ExT6jH8rY1hza", "type": "kernel", "default-channel": "22/stable"},
		},
	}, nil, "")
	if err != nil {
		fail("signing the model: %v", err)
	}
	write(filepath.Join(dir, "root.assert"), rootAcct, rootAcctKey)
	write(filepath.Join(dir, "brand.assert"), brandAcct, brandAcctKey)
	write(filepath.Join(dir, "model.assert"), model)
}

func sysdbGeneric() {
	all := append(sysdb.Trusted(), sysdb.Generic()...)
	all = append(all, sysdb.GenericClassicModel())
	for i, a := range all {
		if i > 0 {
			os.Stdout.Write([]byte("\n"))
		}
		os.Stdout.Write(asserts.Encode(a))
	}
}
