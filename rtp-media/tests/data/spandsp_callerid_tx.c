/* Caller ID bursts from spandsp's ADSI transmitter, an implementation
 * independent of ours, for the caller ID decoder's test.
 *
 * Reads one burst a line on stdin, tab separated:
 *   KIND DATETIME NUMBER NAME
 * KIND: class-sdmf, class-mdmf (Bell 202), clip-mdmf (ETSI V.23),
 * dtmf-a, dtmf-d (DTMF A<number>C, D<number>C), dtmf-b (B<code>C, the
 * number field holding the code). NUMBER "P" or "O" sends the absence
 * code instead of a number; NAME "P" or "O" likewise, "-" no name.
 * Writes each burst to stdout as a little-endian u32 sample count and the
 * 8 kHz 16-bit samples, at spandsp's default level.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <spandsp.h>

static void put_burst(adsi_tx_state_t *tx, const uint8_t *msg, int len)
{
    static int16_t audio[8000 * 10];
    int total = 0;
    int n;

    if (adsi_tx_put_message(tx, msg, len) < 0) {
        fprintf(stderr, "adsi_tx_put_message refused a message of %d bytes\n", len);
        exit(2);
    }
    while (total < (int) (sizeof(audio) / sizeof(audio[0])) - 160
           && (n = adsi_tx(tx, audio + total, 160)) > 0)
        total += n;
    uint32_t count = (uint32_t) total;
    fwrite(&count, sizeof(count), 1, stdout);
    fwrite(audio, sizeof(int16_t), total, stdout);
}

int main(void)
{
    char line[512];

    while (fgets(line, sizeof(line), stdin)) {
        char *kind = strtok(line, "\t\n");
        char *when = strtok(NULL, "\t\n");
        char *number = strtok(NULL, "\t\n");
        char *name = strtok(NULL, "\t\n");
        uint8_t msg[256];
        int len = -1;
        adsi_tx_state_t *tx;

        if (!kind || !when || !number || !name) {
            fprintf(stderr, "bad input line\n");
            return 2;
        }
        int absent_number = strcmp(number, "P") == 0 || strcmp(number, "O") == 0;
        int absent_name = strcmp(name, "P") == 0 || strcmp(name, "O") == 0;
        int no_name = strcmp(name, "-") == 0;
        if (strcmp(kind, "class-sdmf") == 0) {
            tx = adsi_tx_init(NULL, ADSI_STANDARD_CLASS);
            len = adsi_add_field(tx, msg, -1, CLASS_SDMF_CALLERID, NULL, 0);
            len = adsi_add_field(tx, msg, len, 0, (uint8_t *) when, 8);
            len = adsi_add_field(tx, msg, len, 0, (uint8_t *) number, strlen(number));
        } else if (strcmp(kind, "class-mdmf") == 0 || strcmp(kind, "clip-mdmf") == 0) {
            int class = strcmp(kind, "class-mdmf") == 0;
            tx = adsi_tx_init(NULL, class ? ADSI_STANDARD_CLASS : ADSI_STANDARD_CLIP);
            len = adsi_add_field(tx, msg, -1, class ? CLASS_MDMF_CALLERID : CLIP_MDMF_CALLERID, NULL, 0);
            len = adsi_add_field(tx, msg, len, class ? MCLASS_DATETIME : CLIP_DATETIME, (uint8_t *) when, 8);
            if (!class) {
                /* ETSI call type "voice": a parameter the decoder skips. */
                uint8_t voice = 1;
                len = adsi_add_field(tx, msg, len, CLIP_CALLTYPE, &voice, 1);
            }
            len = adsi_add_field(tx, msg, len,
                                 absent_number ? (class ? MCLASS_ABSENCE1 : CLIP_ABSENCE1)
                                               : (class ? MCLASS_CALLER_NUMBER : CLIP_CALLER_NUMBER),
                                 (uint8_t *) number, strlen(number));
            if (!no_name)
                len = adsi_add_field(tx, msg, len,
                                     absent_name ? (class ? MCLASS_ABSENCE2 : CLIP_ABSENCE2)
                                                 : (class ? MCLASS_CALLER_NAME : CLIP_CALLER_NAME),
                                     (uint8_t *) name, strlen(name));
        } else if (strncmp(kind, "dtmf-", 5) == 0) {
            tx = adsi_tx_init(NULL, ADSI_STANDARD_CLIP_DTMF);
            len = adsi_add_field(tx, msg, -1, CLIP_DTMF_C_TERMINATED, NULL, 0);
            len = adsi_add_field(tx, msg, len, (uint8_t) toupper((unsigned char) kind[5]),
                                 (uint8_t *) number, strlen(number));
        } else {
            fprintf(stderr, "unknown kind %s\n", kind);
            return 2;
        }
        put_burst(tx, msg, len);
        adsi_tx_free(tx);
    }
    return 0;
}
