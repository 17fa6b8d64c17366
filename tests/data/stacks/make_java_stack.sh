#!/usr/bin/env bash
# Regenerates java-caused-by.txt: a real JVM stack with two nested `Caused by:` blocks
# (OpenJDK 17: javac + java). Run from this folder; needs a JDK on PATH.
set -euo pipefail
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/shop"
cat > "$work/shop/Checkout.java" <<'JAVA'
package shop;

public class Checkout {
    static int parseQuantity(String raw) {
        return Integer.parseInt(raw);
    }

    static int loadCart(String raw) {
        try {
            return parseQuantity(raw);
        } catch (NumberFormatException e) {
            throw new IllegalStateException("cart line unreadable", e);
        }
    }

    static void checkout(String raw) {
        try {
            loadCart(raw);
        } catch (IllegalStateException e) {
            throw new RuntimeException("checkout failed", e);
        }
    }

    public static void main(String[] args) {
        checkout("two");
    }
}
JAVA
javac -d "$work/out" "$work/shop/Checkout.java"
# the JVM prints "Exception in thread ..." before the trace; exception.stacktrace starts at the exception
java -cp "$work/out" shop.Checkout 2>&1 | sed 's/^Exception in thread "main" //' > java-caused-by.txt || true
