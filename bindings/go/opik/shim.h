/* C side of the Go binding: wrappers that pass a runtime/cgo.Handle (an integer) as user_data,
 * so no Go pointer is ever stored in C memory. The callbacks they install call the Go
 * trampolines exported in callbacks.go. */
#ifndef OPIKGO_SHIM_H
#define OPIKGO_SHIM_H

#include <stdint.h>
#include <opik_attachments.h>

/* opik_download with the Go write trampoline; `handle` identifies the Go download state. */
opik_status opikgo_download(opik_client *c, const char *project_name, opik_entity_type entity_type,
                            const char *entity_id, const char *file_name, const char *mime_type,
                            uintptr_t handle, opik_error **err);

/* opik_upload_async with the Go on_done and user_data_free trampolines; `handle` identifies the
 * Go operation state and is released by the free trampoline (exactly once, when accepted). */
opik_status opikgo_upload_async(opik_client *c, const char *project_name, opik_entity_type entity_type,
                                const char *entity_id, const opik_attachment *a, uintptr_t handle,
                                opik_op **out_op, opik_error **err);

/* opik_options_set_log_callback with the Go log trampoline; `handle` identifies the Go log
 * state and stays registered until the client made from these options is freed. */
opik_status opikgo_options_set_log_callback(opik_options *o, opik_log_level max_level, uintptr_t handle,
                                            opik_error **err);

#endif
