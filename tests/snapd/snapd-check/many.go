package main

// decode-many: snapd's verdict on a directory of candidate assertions, for differential
// testing of snapsmith's codec.

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/snapcore/snapd/asserts"
)

// decodeMany prints "NAME ok" or "NAME error: …" for every file in dir, in name order; each
// file is decoded as one assertion with asserts.Decode (headers, body, the type's own rules;
// signatures are not checked).
func decodeMany(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		fail("%v", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, name := range names {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			fail("%v", err)
		}
		if _, err := asserts.Decode(data); err != nil {
			fmt.Printf("%s error: %s\n", name, strings.ReplaceAll(err.Error(), "\n", " "))
		} else {
			fmt.Printf("%s ok\n", name)
		}
	}
}
