// CUPTI activity tracer for a whole process, loaded by the CUDA driver as an injection library:
//
//   CUDA_INJECTION64_PATH=/path/libcupti_trace.so TRACE_OUT=trace.tsv <command>
//
// It records every kernel, memory copy, memset, synchronization and CUDA runtime/driver API call
// with its start and end (ns, one clock for all), one tab-separated line each, written when the
// process exits:
//   K start end stream correlation kernel-name      (kernel)
//   C start end stream correlation kind:bytes       (memcpy; kind 1 = host to device, 2 = device
//                                                    to host, 8 = device to device)
//   S start end stream correlation bytes            (memset)
//   Y start end stream correlation type             (synchronization)
//   R|D start end thread correlation function-name  (runtime | driver API call)
// A kernel and the API call that launched it share the correlation id. step_timeline.py turns a
// trace into per-phase busy and idle times, the longest device gaps and what the host was doing.
// Nsight Systems is not on the GPU machine; Nsight Compute times kernels only (no copies, no idle).
#include <cupti.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static FILE *out;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void CUPTIAPI bufferRequested(uint8_t **buffer, size_t *size, size_t *maxRecords) {
    *size = 8 << 20;
    *buffer = (uint8_t *)aligned_alloc(8, *size);
    *maxRecords = 0;
}

static void writeApi(const CUpti_Activity *record) {
    const CUpti_ActivityAPI *a = (const CUpti_ActivityAPI *)record;
    const int driver = record->kind == CUPTI_ACTIVITY_KIND_DRIVER;
    const char *name = "?";
    cuptiGetCallbackName(driver ? CUPTI_CB_DOMAIN_DRIVER_API : CUPTI_CB_DOMAIN_RUNTIME_API,
                         a->cbid, &name);
    fprintf(out, "%c\t%llu\t%llu\t%u\t%u\t%s\n", driver ? 'D' : 'R',
            (unsigned long long)a->start, (unsigned long long)a->end, a->threadId,
            a->correlationId, name);
}

static void CUPTIAPI bufferCompleted(CUcontext context, uint32_t streamId, uint8_t *buffer,
                                     size_t size, size_t validSize) {
    CUpti_Activity *record = NULL;
    pthread_mutex_lock(&lock);
    while (cuptiActivityGetNextRecord(buffer, validSize, &record) == CUPTI_SUCCESS) {
        switch (record->kind) {
            case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL:
            case CUPTI_ACTIVITY_KIND_KERNEL: {
                const CUpti_ActivityKernel10 *k = (const CUpti_ActivityKernel10 *)record;
                fprintf(out, "K\t%llu\t%llu\t%u\t%u\t%s\n", (unsigned long long)k->start,
                        (unsigned long long)k->end, k->streamId, k->correlationId, k->name);
                break;
            }
            case CUPTI_ACTIVITY_KIND_MEMCPY: {
                const CUpti_ActivityMemcpy6 *m = (const CUpti_ActivityMemcpy6 *)record;
                fprintf(out, "C\t%llu\t%llu\t%u\t%u\t%u:%llu\n", (unsigned long long)m->start,
                        (unsigned long long)m->end, m->streamId, m->correlationId, m->copyKind,
                        (unsigned long long)m->bytes);
                break;
            }
            case CUPTI_ACTIVITY_KIND_MEMSET: {
                const CUpti_ActivityMemset4 *m = (const CUpti_ActivityMemset4 *)record;
                fprintf(out, "S\t%llu\t%llu\t%u\t%u\t%llu\n", (unsigned long long)m->start,
                        (unsigned long long)m->end, m->streamId, m->correlationId,
                        (unsigned long long)m->bytes);
                break;
            }
            case CUPTI_ACTIVITY_KIND_SYNCHRONIZATION: {
                const CUpti_ActivitySynchronization2 *s =
                    (const CUpti_ActivitySynchronization2 *)record;
                fprintf(out, "Y\t%llu\t%llu\t%u\t%u\t%d\n", (unsigned long long)s->start,
                        (unsigned long long)s->end, s->streamId, s->correlationId, (int)s->type);
                break;
            }
            case CUPTI_ACTIVITY_KIND_DRIVER:
            case CUPTI_ACTIVITY_KIND_RUNTIME:
                writeApi(record);
                break;
            default:
                break;
        }
    }
    pthread_mutex_unlock(&lock);
    free(buffer);
}

static void finish(void) {
    cuptiActivityFlushAll(1);
    if (out != NULL) fclose(out);
}

// Called by the CUDA driver when it loads this library (CUDA_INJECTION64_PATH).
int InitializeInjection(void) {
    const char *path = getenv("TRACE_OUT");
    out = fopen(path != NULL ? path : "trace.tsv", "w");
    if (out == NULL) return 0;
    cuptiActivityRegisterCallbacks(bufferRequested, bufferCompleted);
    cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
    cuptiActivityEnable(CUPTI_ACTIVITY_KIND_MEMCPY);
    cuptiActivityEnable(CUPTI_ACTIVITY_KIND_MEMSET);
    cuptiActivityEnable(CUPTI_ACTIVITY_KIND_SYNCHRONIZATION);
    cuptiActivityEnable(CUPTI_ACTIVITY_KIND_DRIVER);
    cuptiActivityEnable(CUPTI_ACTIVITY_KIND_RUNTIME);
    atexit(finish);
    return 1;
}
