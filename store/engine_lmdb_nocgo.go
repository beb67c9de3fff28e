//go:build !cgo

package store

import "errors"

const lmdbAvailable = false

func openLMDB(string) (engine, error) {
	return nil, errors.New("the lmdb engine needs cgo; this binary was built without it")
}
