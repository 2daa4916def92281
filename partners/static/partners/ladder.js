// The partner tier form: the chosen OEM's and program's ladder as choices for the tier
// (buttons and a datalist), and the engine's warning when the tier typed is off the ladder.
// Free text stays possible: the choices only fill the field.
"use strict";
(function () {
  function setUp() {
    const tier = document.getElementById("id_tier");
    const oem = document.getElementById("id_oem");
    const program = document.getElementById("id_program");
    if (!tier || !oem || !program || !tier.dataset.ladderUrl) return;

    const list = document.createElement("datalist");
    list.id = "tier-ladder";
    tier.setAttribute("list", list.id);
    const choices = document.createElement("div");
    choices.className = "ladder-choices help";
    const warning = document.createElement("p");
    warning.className = "ladder-warning errornote";
    warning.style.display = "none";  // not `hidden`: the admin's .errornote sets display
    tier.after(list, choices, warning);

    let asked = 0;
    // The latest question is asked again when its answer fails (a busy server, a dropped
    // connection): otherwise the warning of an earlier tier would stay on screen.
    function refresh(tries = 3) {
      const query = new URLSearchParams({oem: oem.value, program: program.value, tier: tier.value});
      const mine = ++asked;
      fetch(tier.dataset.ladderUrl + "?" + query, {credentials: "same-origin"})
        .then((response) => {
          if (!response.ok) throw new Error(response.status);
          return response.json();
        })
        .then((ladder) => {
          if (mine === asked) show(ladder);  // else a later answer is on its way
        })
        .catch(() => {
          if (mine === asked && tries > 1) setTimeout(() => mine === asked && refresh(tries - 1), 300);
        });
    }

    function show(ladder) {
      list.replaceChildren(...ladder.tiers.map((name) => new Option(name)));
      choices.replaceChildren();
      if (ladder.tiers.length) {
        choices.append("Ladder (lowest first): ");
        for (const name of ladder.tiers) {
          const button = document.createElement("button");
          button.type = "button";
          button.className = "ladder-choice";
          button.dataset.tier = name;
          button.textContent = name;
          // Keeps the focus in the tier field: a click then asks once, not once for the
          // field's change and again for the choice.
          button.addEventListener("mousedown", (event) => event.preventDefault());
          button.addEventListener("click", () => {
            tier.value = name;
            refresh();
          });
          choices.append(button, " ");
        }
      }
      warning.textContent = ladder.warning || "";
      warning.style.display = ladder.warning ? "" : "none";
    }

    let timer = null;
    function later() {
      clearTimeout(timer);
      timer = setTimeout(() => refresh(), 250);
    }
    for (const field of [oem, program, tier]) {
      field.addEventListener("input", later);
      field.addEventListener("change", () => refresh());
    }
    refresh();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
