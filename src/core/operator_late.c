/* operator_late.c — late remote results handed to the application's `late`
 * callback instead of being freed (operator.h, specx_late_result).
 *
 * Design notes
 *  - The decision "is this a late result for the callback" is taken under
 *    op->mu, from the same on_time flag the selection used, so a result
 *    counts as late and reaches the callback together or not at all.
 *  - The callback runs after op->mu is dropped, while the completing thread
 *    still holds op->active and the call's message reference: shutdown (and
 *    so destroy) waits for it, and the message's input is still valid. */
#include "core/operator_internal.h"

bool sx_op_late_keep(specx_operator *op, const msg *m, uint32_t exec, specx_status status,
                     bool on_time, specx_time_t now, void **result, specx_late_result *out)
{
    if (op->cfg.late == NULL || *result == NULL || status != SPECX_OK || on_time ||
        op->ex[exec].is_local) {
        return false;
    }
    *out = (specx_late_result){.seq = m->seq,
                               .exec = exec,
                               .exec_name = op->ex[exec].name,
                               .input = m->input,
                               .user = m->user,
                               .arrival = m->arrival,
                               .deadline = m->slots[exec].deadline,
                               .completed = now,
                               .result = *result};
    *result = NULL;
    return true;
}

void sx_op_late_hand(specx_operator *op, specx_late_result *late)
{
    specx_operator *prev = sx_op_tls_in_callback;
    sx_op_tls_in_callback = op; /* no process or shutdown from there */
    op->cfg.late(op->cfg.late_user, late);
    sx_op_tls_in_callback = prev;
    if (late->result != NULL) {
        sx_op_free_result(op, (int)late->exec, late->result);
    }
}

void *specx_late_take_result(specx_late_result *late)
{
    void *r = late->result;
    late->result = NULL;
    return r;
}
