package opik

/*
#include <stdlib.h>
*/
import "C"

import (
	"strings"
	"unsafe"
)

// cstrings holds C copies of Go strings for the duration of one C call.
type cstrings struct {
	ptrs []*C.char
}

// str returns a C copy of s. A NUL byte inside s would silently cut the string short on the C
// side (another entity id, another path), so it is refused.
func (cs *cstrings) str(s, what string) (*C.char, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, statusError(StatusInvalidArgument, what+" contains a NUL byte")
	}
	p := C.CString(s)
	cs.ptrs = append(cs.ptrs, p)
	return p, nil
}

// optional is str, except that "" gives NULL (the library's default).
func (cs *cstrings) optional(s, what string) (*C.char, error) {
	if s == "" {
		return nil, nil
	}
	return cs.str(s, what)
}

// free releases every copy.
func (cs *cstrings) free() {
	for _, p := range cs.ptrs {
		C.free(unsafe.Pointer(p))
	}
	cs.ptrs = nil
}
