//go:build unix

package vdi

import "syscall"

// benchAlloc maps n bytes of anonymous memory, which the garbage collector
// neither scans nor counts towards its next cycle.
func benchAlloc(n int) ([]byte, func()) {
	b, err := syscall.Mmap(-1, 0, max(n, 1), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]byte, n), func() {}
	}
	return b[:n], func() { syscall.Munmap(b) }
}
