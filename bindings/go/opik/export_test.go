package opik

// Internals the tests check (compiled into the test binary only).

// LiveHandles returns the number of cgo handles registered for callbacks and not yet deleted.
func LiveHandles() int64 { return liveHandles.Load() }

// CleanupsRun returns how many C objects the garbage-collection safety net has freed.
func CleanupsRun() int64 { return cleanupsRun.Load() }
