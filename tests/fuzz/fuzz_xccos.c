/* fuzz_xccos.c — libFuzzer entry point over the untrusted path: peek, decode, and for every
 * decoded command an error reply (and for a post its fan-out) that must parse back unchanged.
 *
 * Build by hand (not part of the Makefile):
 *   clang -std=gnu11 -g -O1 -D_GNU_SOURCE -DXML_DTD -Icommon -fsanitize=fuzzer,address,undefined \
 *     tests/fuzz/fuzz_xccos.c common/xdoc.c common/xccos.c common/xccos_render.c common/sbuf.c \
 *     -lexpat -o build/fuzz_xccos
 *   build/fuzz_xccos -max_total_time=60 -max_len=70000 corpus/ */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sbuf.h"
#include "xccos.h"
#include "xdoc.h"

/* Anything the server renders from decoded input must read back to the same bytes. */
static void check_post_round_trip(const struct xccos_cmd *cmd)
{
    struct sbuf b;
    sbuf_init(&b, 1 << 20);
    struct xccos_msg m = {
        .chan_uri = cmd->chan_uri, .author = cmd->author, .ts = cmd->ts,
        .text = cmd->text, .text_len = cmd->text_len, .msgid = 1,
    };
    xccos_render_grpchat(&b, 1, &m);
    if (b.overflow)
        abort();
    struct xdoc_limits lim = xdoc_default_limits;
    lim.max_bytes = b.len;
    lim.max_text = 1 << 20;
    struct xccos_cmd *back = NULL;
    char err[256];
    if (xccos_cmd_parse(b.data, b.len, &lim, &back, err, sizeof err) != XCCOS_OK)
        abort();
    /* A text_len of 0 renders by strlen, so compare only what was actually there. */
    if (back->text_len != cmd->text_len || memcmp(back->text, cmd->text, cmd->text_len) != 0
        || strcmp(back->chan_uri, cmd->chan_uri) != 0 || strcmp(back->author, cmd->author) != 0
        || strcmp(back->ts, cmd->ts) != 0)
        abort();
    xccos_cmd_free(back);
    sbuf_free(&b);
}

static void check_error_reply_parses(const struct xccos_cmd *cmd, const char *sentence)
{
    struct sbuf b;
    sbuf_init(&b, 1 << 20);
    xccos_render_error(&b, UINT64_MAX, cmd, 400, sentence);
    if (b.overflow)
        abort();
    struct xdoc_limits lim = xdoc_default_limits;
    lim.max_bytes = b.len;
    lim.max_text = 1 << 20;
    struct xdoc *doc = NULL;
    char err[256];
    if (xdoc_parse(b.data, b.len, &lim, &doc, err, sizeof err) != XDOC_OK)
        abort();
    const struct xnode *rpl = xnode_child(xdoc_root(doc), "rpl");
    const struct xnode *cid = xnode_child(rpl, "commandid");
    if (!rpl || !cid || strcmp(xnode_attr(cid, "envid"), cmd->envid) != 0
        || strcmp(xnode_attr(cid, "seqid"), cmd->seqid) != 0)
        abort();
    xdoc_free(doc);
    sbuf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)xccos_peek_cmd((const char *)data, size);
    struct xccos_cmd *cmd = NULL;
    char err[256];
    enum xccos_err e = xccos_cmd_parse((const char *)data, size, NULL, &cmd, err, sizeof err);
    if ((e == XCCOS_OK || e == XCCOS_ESCHEMA) != (cmd != NULL))
        abort();
    if (!cmd)
        return 0;
    check_error_reply_parses(cmd, e == XCCOS_OK ? "fuzz" : err);
    if (e == XCCOS_OK && cmd->cmd == XCMD_GRPCHAT)
        check_post_round_trip(cmd);
    if (e == XCCOS_OK && (cmd->cmd == XCMD_JOIN || cmd->cmd == XCMD_BJOIN)
        && (cmd->n_chanids < 1 || cmd->n_chanids > XCCOS_MAX_CHANIDS))
        abort();
    xccos_cmd_free(cmd);
    return 0;
}
