//go:build !linux

package sni

import (
	"context"
	"errors"
)

func (s *Store) startWatcher(context.Context) error {
	s.wg.Done()
	return errors.New("sni: watching certificate files needs Linux inotify")
}
