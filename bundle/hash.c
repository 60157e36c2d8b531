/*
 * bundle/hash.c -- SHA-256 of the bundle's files, in parallel.
 *
 * Each worker thread takes the next file and reads it with pread() in
 * large blocks (the descriptor's offset is left untouched for the loader)
 * into OpenSSL's SHA-256, which uses the CPU's SHA extensions when there
 * are any. Progress is reported through one mutex-guarded counter.
 */
#include "bundle/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#define BDL_HASH_BLOCK (1u << 20)
#define BDL_MAX_THREADS 64

typedef struct hash_job {
    bundle_file *files;
    size_t n;
    pthread_mutex_t lock; /* guards everything below */
    size_t next;
    uint64_t done, total;
    bundle_progress_fn progress;
    void *progress_arg;
    int failed;
    cm_err err;
} hash_job;

static void job_fail(hash_job *job, const cm_err *e)
{
    pthread_mutex_lock(&job->lock);
    if (!job->failed) {
        job->failed = 1;
        job->err = *e;
    }
    pthread_mutex_unlock(&job->lock);
}

static void job_progress(hash_job *job, uint64_t bytes)
{
    pthread_mutex_lock(&job->lock);
    job->done += bytes;
    if (job->progress != NULL)
        job->progress(job->done, job->total, job->progress_arg);
    pthread_mutex_unlock(&job->lock);
}

static int hash_one(hash_job *job, bundle_file *f, unsigned char *buf, cm_err *err)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return cm_err_set(err, "%s: cannot start SHA-256", f->path);
    }
#ifdef POSIX_FADV_SEQUENTIAL
    posix_fadvise(f->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    uint64_t off = 0;
    int rc = 0;
    for (;;) {
        ssize_t r = pread(f->fd, buf, BDL_HASH_BLOCK, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = cm_err_errno(err, "read %s", f->path);
            break;
        }
        if (r == 0)
            break;
        EVP_DigestUpdate(ctx, buf, (size_t)r);
        off += (uint64_t)r;
        job_progress(job, (uint64_t)r);
    }
    if (rc == 0 && off != f->size)
        rc = cm_err_set(err, "%s changed size while being hashed", f->path);
    if (rc == 0 && EVP_DigestFinal_ex(ctx, f->digest, NULL) != 1)
        rc = cm_err_set(err, "%s: SHA-256 failed", f->path);
    EVP_MD_CTX_free(ctx);
    return rc;
}

static void *worker(void *arg)
{
    hash_job *job = arg;
    unsigned char *buf = malloc(BDL_HASH_BLOCK);
    if (buf == NULL) {
        cm_err e;
        cm_err_set(&e, "out of memory for the hashing buffer");
        job_fail(job, &e);
        return NULL;
    }
    for (;;) {
        pthread_mutex_lock(&job->lock);
        size_t i = job->failed ? job->n : job->next++;
        pthread_mutex_unlock(&job->lock);
        if (i >= job->n)
            break;
        cm_err e;
        if (hash_one(job, &job->files[i], buf, &e) != 0) {
            job_fail(job, &e);
            break;
        }
    }
    free(buf);
    return NULL;
}

int bdl_hash_files(bundle_file *files, size_t n, unsigned threads, bundle_progress_fn progress,
                   void *arg, cm_err *err)
{
    hash_job job;
    memset(&job, 0, sizeof(job));
    job.files = files;
    job.n = n;
    job.progress = progress;
    job.progress_arg = arg;
    for (size_t i = 0; i < n; i++)
        job.total += files[i].size;
    if (threads == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cpus > 0 ? (unsigned)cpus : 1;
    }
    if (threads > BDL_MAX_THREADS)
        threads = BDL_MAX_THREADS;
    if (threads > n)
        threads = n > 0 ? (unsigned)n : 1;
    if (pthread_mutex_init(&job.lock, NULL) != 0)
        return cm_err_set(err, "cannot create a mutex");
    pthread_t tids[BDL_MAX_THREADS];
    unsigned started = 0;
    /* The calling thread is worker 0. */
    for (unsigned t = 1; t < threads; t++) {
        if (pthread_create(&tids[started], NULL, worker, &job) != 0)
            break; /* fewer threads is still correct */
        started++;
    }
    worker(&job);
    for (unsigned t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
    pthread_mutex_destroy(&job.lock);
    if (job.failed) {
        if (err != NULL)
            *err = job.err;
        return -1;
    }
    return 0;
}
