export async function render(main) {
  main.append("Coming soon");
}
