// The play page: start a game, draw the board or the cards, send clicks as moves (JSON API).
"use strict";
const $ = (id) => document.getElementById(id);
let current = null;
window.arenaRenders = 0; // how many states have been drawn (tests wait on it)

async function api(method, url, body) {
  const response = await fetch(url, {
    method,
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function showError(error) { $("error").textContent = error ? String(error.message || error) : ""; }

async function loadOpponents() {
  const list = await api("GET", "/api/opponents?game=" + encodeURIComponent($("game").value));
  const chosen = $("opponent").value;
  $("opponent").innerHTML = "";
  for (const o of list) {
    const option = document.createElement("option");
    option.value = o.name;
    option.textContent = o.name + " - " + o.description;
    $("opponent").appendChild(option);
  }
  if (list.some((o) => o.name === chosen)) $("opponent").value = chosen; // keep the choice
  $("opponent").dataset.game = $("game").value;
}

async function move(text) {
  try {
    showError(null);
    render(await api("POST", "/api/matches/" + current.id + "/moves", { move: String(text) }));
  } catch (error) { showError(error); }
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function drawBoard(state) {
  const board = $("board");
  board.innerHTML = "";
  if (state.board.kind === "grid") {
    const grid = el("div", "grid");
    grid.style.gridTemplateColumns = "repeat(" + state.board.rows[0].length + ", auto)";
    state.board.rows.forEach((row, r) => row.forEach((cell, c) => {
      const button = el("button", "cell " + cell.mark, cell.mark === "." ? "" : cell.mark);
      button.dataset.row = r;
      button.dataset.col = c;
      if (cell.action !== null) {
        button.classList.add("playable");
        button.onclick = () => {
          const legal = state.legal.find((m) => m.action === cell.action);
          if (legal) move(legal.text);
        };
      } else button.disabled = true;
      grid.appendChild(button);
    }));
    board.appendChild(grid);
  } else if (state.board.kind === "cards") {
    board.appendChild(el("div", "card yours", "your card: " + state.board.yours));
    for (const card of state.board.public) board.appendChild(el("div", "card public", "public: " + card));
    if (state.board.opponent) board.appendChild(el("div", "card theirs", "their card: " + state.board.opponent));
  }
}

function render(state) {
  current = state;
  $("table").hidden = false;
  const who = state.opponent + (state.opponent_version ? " (" + state.opponent_version + ")" : "");
  $("status").textContent = state.done
    ? "Game over: you " + { win: "won", loss: "lost", draw: "drew" }[state.outcome] + " (returns " + state.returns.join(" / ") + ")" + (state.saved ? "; saved." : ".")
    : (state.your_turn ? "Your move" : "Waiting") + " against " + who + "; you are player " + state.human_seat + ".";
  $("status").dataset.done = state.done;
  drawBoard(state);
  $("moves").innerHTML = "";
  if (state.board.kind !== "grid") {
    for (const m of state.legal) {
      const button = el("button", "move", m.text);
      button.onclick = () => move(m.text);
      $("moves").appendChild(button);
    }
  }
  $("lines").textContent = state.lines.concat(state.reveal).join("\n");
  const policy = $("policy");
  // keep the agent's last policy on screen when the person's move ended the game
  if (state.agent_moves.length || !state.history.length) policy.innerHTML = "";
  for (const m of state.agent_moves) {
    policy.appendChild(el("p", null, who + " played " + m.text + (m.policy ? "; its probabilities:" : "")));
    if (!m.policy) continue;
    const table = el("table", "policy");
    for (const p of m.policy) {
      const row = el("tr");
      row.appendChild(el("td", null, p.text));
      const bar = el("td");
      const fill = el("span", "bar");
      fill.style.width = Math.round(p.probability * 150) + "px";
      bar.appendChild(fill);
      bar.appendChild(document.createTextNode(" " + p.probability.toFixed(2)));
      row.appendChild(bar);
      table.appendChild(row);
    }
    policy.appendChild(table);
  }
  $("history").innerHTML = "";
  for (const h of state.history) $("history").appendChild(el("li", null, h.by + ": " + h.text));
  window.arenaRenders += 1;
}

$("game").onchange = () => loadOpponents().catch(showError);
$("setup").onsubmit = async (event) => {
  event.preventDefault();
  try {
    showError(null);
    render(await api("POST", "/api/matches", {
      game: $("game").value, opponent: $("opponent").value, seat: $("seat").value,
    }));
  } catch (error) { showError(error); }
};
loadOpponents().catch(showError);
