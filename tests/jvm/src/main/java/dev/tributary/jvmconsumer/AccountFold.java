package dev.tributary.jvmconsumer;

import java.util.Set;
import org.apache.avro.generic.GenericRecord;

/**
 * An account as its read table ({@code accounts}) holds it: owner, currency, balance in minor
 * units and status ({@code not_opened}, {@code open}, {@code closed}). Money movements add or
 * subtract their amount; refusals of transfer steps change nothing; a balance never drops below
 * zero, so an event that would take it there cannot be applied.
 */
final class AccountFold implements Fold {
  private static final String NS = "tributary.bank.account.";
  private static final Set<String> EVENTS =
      Set.of(
          NS + "AccountOpened",
          NS + "Deposited",
          NS + "Withdrawn",
          NS + "AccountClosed",
          NS + "DebitedForTransfer",
          NS + "CreditedForTransfer",
          NS + "RefundedForTransfer",
          NS + "TransferDebitRejected",
          NS + "TransferCreditRejected");

  private String status = "not_opened";
  private String ownerId = "";
  private String currency = "";
  private long balance;

  @Override
  public Set<String> events() {
    return EVENTS;
  }

  @Override
  public String apply(GenericRecord event) {
    String name = event.getSchema().getFullName();
    switch (name.substring(NS.length())) {
      case "AccountOpened" -> {
        status = "open";
        ownerId = event.get("owner_id").toString();
        currency = event.get("currency").toString();
      }
      case "Deposited", "CreditedForTransfer", "RefundedForTransfer" -> {
        return move(name, amount(event));
      }
      case "Withdrawn", "DebitedForTransfer" -> {
        return move(name, -amount(event));
      }
      case "AccountClosed" -> status = "closed";
      case "TransferDebitRejected", "TransferCreditRejected" -> {
        // Recorded for the transfer saga; the account did not change.
      }
      default -> throw new IllegalStateException("not an account event: " + name);
    }
    return null;
  }

  private static long amount(GenericRecord event) {
    return (Long) event.get("amount");
  }

  private String move(String event, long amount) {
    long after = saturatingAdd(balance, amount);
    if (after < 0) {
      return event
          + " of "
          + Math.abs(amount)
          + " would take the balance from "
          + balance
          + " to "
          + after
          + ", and a balance never drops below zero";
    }
    balance = after;
    return null;
  }

  private static long saturatingAdd(long a, long b) {
    long sum = a + b;
    if (((a ^ sum) & (b ^ sum)) < 0) {
      return a < 0 ? Long.MIN_VALUE : Long.MAX_VALUE;
    }
    return sum;
  }

  @Override
  public void describe(Json.Obj out) {
    out.put("owner_id", ownerId)
        .put("currency", currency)
        .put("balance", balance)
        .put("status", status);
  }
}
