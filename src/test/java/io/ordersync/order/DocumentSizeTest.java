package io.ordersync.order;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The size limit counts a document's UTF-8 bytes exactly as encoding it would, without encoding it. */
class DocumentSizeTest {

    @Test
    void theCountIsTheEncodedLengthForEveryKindOfCharacter() {
        String[] samples = {"", "abc", "é", "€", "😀", "a😀b", "\uD83D", "\uDE00", "\uDE00\uD83D", "x\uD83Dy", "\u0000\u007F\u0080\u07FF\u0800\uFFFF"};
        for (String s : samples) {
            assertThat(DocumentParser.utf8Length(s)).as(s).isEqualTo(s.getBytes(StandardCharsets.UTF_8).length);
        }
        Random r = new Random(18);
        for (int i = 0; i < 2000; i++) {
            char[] cs = new char[r.nextInt(40)];
            for (int j = 0; j < cs.length; j++) {
                // all of the range, surrogates (paired or not) included
                cs[j] = (char) (r.nextBoolean() ? r.nextInt(0x10000) : 0xD800 + r.nextInt(0x800));
            }
            String s = new String(cs);
            assertThat(DocumentParser.utf8Length(s)).as("sample %d", i).isEqualTo(s.getBytes(StandardCharsets.UTF_8).length);
        }
    }

    @Test
    void aDocumentOneByteOverTheLimitIsRefusedWithItsSize() {
        DocumentParser parser = new DocumentParser(new ObjectMapper(), 20);
        String doc = "{\"k\": \"ééééééé\"}"; // 16 characters, 23 bytes
        assertThatThrownBy(() -> parser.parse(doc)).isInstanceOf(InvalidDocumentException.class)
                .hasMessage("document is 23 bytes, over the limit of 20 bytes");
    }
}
