package io.attn4j.sparse;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KeyBudgetTest {

    @Test
    void parsesTokensRatiosAndPercentages() {
        assertEquals(KeyBudget.tokens(2048), KeyBudget.parse("2048"));
        assertEquals(KeyBudget.ratio(0.1), KeyBudget.parse("0.1"));
        assertEquals(KeyBudget.ratio(0.25), KeyBudget.parse(" 25% "));
        assertEquals("25%", KeyBudget.ratio(0.25).toString());
        assertEquals("12.5%", KeyBudget.ratio(0.125).toString());
        assertEquals("2048 tokens", KeyBudget.tokens(2048).toString());
        for (String bad : new String[] {"", "abc", "0", "-3", "0.0", "150%", "1.5", "NaN", "10%%"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> KeyBudget.parse(bad),
                    "budget '" + bad + "'");
            assertTrue(e.getMessage().contains("allowed"), e.getMessage());
        }
    }

    @Test
    void keysAreClampedToWhatIsVisible() {
        assertEquals(0, KeyBudget.tokens(5).keysOf(0));
        assertEquals(3, KeyBudget.tokens(5).keysOf(3));
        assertEquals(5, KeyBudget.tokens(5).keysOf(1000));
        assertEquals(1, KeyBudget.ratio(0.01).keysOf(7), "a ratio keeps at least one key");
        assertEquals(10, KeyBudget.ratio(0.1).keysOf(100), "no rounding up of an exact product");
        assertEquals(11, KeyBudget.ratio(0.1).keysOf(101));
        assertEquals(100, KeyBudget.ratio(1.0).keysOf(100));
    }

    @Test
    void windowsSpendTheShareOfTheMaskArea() {
        // causal self-attention: a query sees (n + 1) / 2 keys on average
        assertEquals(103, KeyBudget.ratio(0.1).windowOf(2048, 2048, true));
        // noncausal: a window of w reaches 2w − 1 keys
        assertEquals(103, KeyBudget.ratio(0.1).windowOf(2048, 2048, false));
        assertEquals(1024, KeyBudget.tokens(1024).windowOf(2048, 2048, true));
        assertEquals(1, KeyBudget.ratio(0.001).windowOf(10, 10, true));
    }
}
